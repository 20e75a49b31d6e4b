"""Build a diffusers pipeline with random weights from a config-only folder (no weight files, no hub).

The folder is laid out like ``DiffusionPipeline.save_pretrained`` output minus the weights::

    model_index.json              {"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"], ...}
    unet/config.json              diffusers and transformers models
    scheduler/scheduler_config.json
    tokenizer/...                 vocab.json + merges.txt, or tokenizer.json (+ tokenizer_config.json)

torch, diffusers and transformers are imported inside the function, so importing this module is cheap.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import diffusers

__all__ = [
    "build_component",
    "build_pipeline_from_config_dir",
    "component_classes",
    "count_parameters",
    "read_model_index",
]

MODEL_INDEX = "model_index.json"


def read_model_index(path: str | Path) -> dict[str, Any]:
    """The parsed ``model_index.json`` of a config folder; ``FileNotFoundError`` naming what is missing."""
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"config folder not found: {root}")
    index_path = root / MODEL_INDEX
    if not index_path.is_file():
        raise FileNotFoundError(f"{MODEL_INDEX} not found: {index_path}")
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{index_path}: not valid JSON ({exc})") from exc
    if not isinstance(index, dict):
        raise ValueError(f"{index_path}: expected a JSON object")
    return index


def _is_component_entry(value: Any) -> bool:
    """``[library, class_name]`` (or ``[null, null]``) as save_pretrained writes a component."""
    return (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(v is None or isinstance(v, str) for v in value)
        and (value[0] is None) == (value[1] is None)
    )


def component_classes(index: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """``component → (library, class name)`` of a parsed ``model_index.json`` (empty components left out)."""
    return {
        k: (v[0], v[1])
        for k, v in index.items()
        if not k.startswith("_") and _is_component_entry(v) and v[0] is not None
    }


def _resolve_class(library: str, class_name: str, component: str) -> type:
    """``("diffusers", "AutoencoderKL")``, ``("transformers", "CLIPTextModel")`` or a diffusers pipeline
    sub-module as save_pretrained writes it (``("stable_audio", "StableAudioProjectionModel")``)."""
    import importlib

    import diffusers
    import transformers

    if library == "diffusers":
        modules = [diffusers]
    elif library == "transformers":
        modules = [transformers]
    elif library.replace("_", "").isalnum() and hasattr(diffusers.pipelines, library):
        modules = [importlib.import_module(f"diffusers.pipelines.{library}"), diffusers]
    elif library.startswith(("diffusers.", "transformers.")):
        try:
            modules = [importlib.import_module(library)]
        except ImportError as exc:
            raise ValueError(f"component {component!r}: unknown library {library!r}") from exc
    else:
        raise ValueError(
            f"component {component!r}: unknown library {library!r} (expected diffusers, transformers "
            "or a diffusers pipeline module)"
        )
    for module in modules:
        cls = getattr(module, class_name, None)
        if isinstance(cls, type):
            return cls
    raise ValueError(f"component {component!r}: unknown class {class_name!r} in {library!r}")


def _require_file(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    return path


@contextmanager
def default_dtype(dtype: Any) -> Iterator[None]:
    """Tensors created inside are ``dtype`` by default (``None``: unchanged); the old default comes back after."""
    import torch

    if dtype is None:
        yield
        return
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def _model_config(cls: type, subdir: Path) -> Any:
    """The config a model class is built from (diffusers: a dict; transformers: its config class)."""
    import transformers

    _require_file(subdir / "config.json")
    if issubclass(cls, transformers.PreTrainedModel):
        config_cls = getattr(cls, "config_class", None) or transformers.AutoConfig
        return config_cls.from_pretrained(str(subdir), local_files_only=True)
    return cls.load_config(str(subdir), local_files_only=True)


def _instantiate(cls: type, config: Any) -> Any:
    import transformers

    if issubclass(cls, transformers.PreTrainedModel):
        return cls(config)
    return cls.from_config(config)


def _is_model(cls: type) -> bool:
    import transformers
    from diffusers import ModelMixin

    return issubclass(cls, ModelMixin | transformers.PreTrainedModel)


def _build_component(
    root: Path, key: str, library: str, class_name: str, seed: int, dtype: Any = None
) -> Any:
    """One component: models get fresh weights right after ``torch.manual_seed(seed)``, drawn directly in
    ``dtype`` (None: torch's default, fp32); others load their configs."""
    import torch
    from diffusers import SchedulerMixin

    cls = _resolve_class(library, class_name, key)
    subdir = root / key
    if not subdir.is_dir():
        raise FileNotFoundError(f"component folder not found: {subdir} (for {key!r}: {class_name})")

    if _is_model(cls):
        config = _model_config(cls, subdir)
        if hasattr(config, "dtype"):
            # transformers builds in the dtype its config was saved with (SDXL's text encoders say float16): the
            # job's dtype decides here, as ``torch_dtype`` does for a load.
            config.dtype = dtype if dtype is not None else torch.get_default_dtype()
        torch.manual_seed(seed)
        with default_dtype(dtype):
            obj = _instantiate(cls, config)
        if dtype is not None:
            # What a module creates in fp32 explicitly (buffers, some parameters), as a cast of the whole
            # pipeline did; nn.Module's own ``to`` (diffusers' warns about fp32 modules on every cast).
            torch.nn.Module.to(obj, dtype=dtype)
        obj.eval()
    elif issubclass(cls, SchedulerMixin):
        _require_file(subdir / "scheduler_config.json")
        obj = cls.from_pretrained(str(subdir), local_files_only=True)
    elif hasattr(cls, "from_pretrained"):  # tokenizers, image processors, feature extractors
        obj = cls.from_pretrained(str(subdir), local_files_only=True)
    else:
        raise ValueError(f"component {key!r}: don't know how to build {class_name!r} from a config folder")
    return obj


def _component_names(index: dict[str, Any]) -> list[str]:
    """The components of ``model_index.json`` in the order their seeds are given (sorted names)."""
    return sorted(k for k, v in index.items() if not k.startswith("_") and _is_component_entry(v))


def build_component(path: str | Path, key: str, seed: int = 0, dtype: Any = None) -> Any:
    """Component ``key`` of a config folder, exactly as :func:`build_pipeline_from_config_dir` builds it with the
    same ``seed`` and ``dtype`` (bit for bit): used to load a component again after its weights were released."""
    import torch

    root = Path(path)
    index = read_model_index(root)
    names = _component_names(index)
    if key not in names or index[key][0] is None:
        raise ValueError(f"{root / MODEL_INDEX}: no component {key!r} (it has {', '.join(names)})")
    library, class_name = index[key]
    with torch.random.fork_rng(devices=[]):
        return _build_component(root, key, library, class_name, seed + names.index(key), dtype)


def count_parameters(path: str | Path) -> dict[str, int]:
    """``component → parameter count`` of a config folder's models, built on the meta device (no memory, no
    weights drawn): what a load would allocate, before loading it."""
    import torch

    root = Path(path)
    index = read_model_index(root)
    counts: dict[str, int] = {}
    for key, (library, class_name) in component_classes(index).items():
        cls = _resolve_class(library, class_name, key)
        if not _is_model(cls):
            continue
        config = _model_config(cls, root / key)
        with torch.device("meta"):
            model = _instantiate(cls, config)
        counts[key] = sum(p.numel() for p in model.parameters())
    return counts


def build_pipeline_from_config_dir(
    path: str | Path, seed: int = 0, pipeline_class: str | None = None, dtype: Any = None
) -> diffusers.DiffusionPipeline:
    """Instantiate every component of a config-only diffusers folder with random weights drawn from a fixed seed.

    For each ``[library, class_name]`` entry of ``model_index.json`` (``[null, null]`` gives ``None``):

    - diffusers models (``ModelMixin``): ``cls.from_config(cls.load_config(subdir))``;
    - transformers models (``PreTrainedModel``): ``cls(cls.config_class.from_pretrained(subdir))``;
    - schedulers, tokenizers, processors: ``cls.from_pretrained(subdir, local_files_only=True)``.

    ``torch.manual_seed(seed + i)`` runs before each model is built, ``i`` being the component's index in
    the sorted component names, so the weights depend only on the folder, ``seed`` and ``dtype``. Models are
    put in eval mode (no dropout).

    ``dtype`` (a torch dtype; None: fp32): each model is built with it as torch's default dtype, so its
    random weights are drawn directly in that dtype and a bf16 or fp16 pipeline never exists in fp32 (the
    load's peak is the dtype's size, not twice it). fp32 weights are those of a plain build, bit for bit;
    fp16/bf16 weights are deterministic per seed but are not the fp32 draws rounded (random numbers drawn
    in half precision differ). Other keys of ``model_index.json`` (``requires_safety_checker``,
    ``boundary_ratio``...) are passed to the pipeline as keyword arguments; keys starting with ``_`` are not.

    The pipeline class is ``pipeline_class`` or ``model_index["_class_name"]``, looked up in ``diffusers``.

    Raises ``FileNotFoundError`` (naming the path) for a missing folder, ``model_index.json``, component
    folder or config file, and ``ValueError`` (naming it) for an unknown library, class or pipeline class.
    """
    import torch

    root = Path(path)
    index = read_model_index(root)

    import diffusers

    name = pipeline_class or index.get("_class_name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"{root / MODEL_INDEX}: no _class_name and no pipeline_class given")
    pipe_cls = getattr(diffusers, name, None)
    if not (isinstance(pipe_cls, type) and issubclass(pipe_cls, diffusers.DiffusionPipeline)):
        raise ValueError(f"unknown pipeline class {name!r} (not a diffusers DiffusionPipeline)")

    components: dict[str, Any] = {}
    extra_kwargs: dict[str, Any] = {}
    component_names = _component_names(index)
    for key, value in index.items():
        if not key.startswith("_") and key not in component_names:
            extra_kwargs[key] = value

    # fork_rng: the caller's global CPU RNG state is the same after the build as before it.
    with torch.random.fork_rng(devices=[]):
        for i, key in enumerate(component_names):
            library, class_name = index[key]
            components[key] = (
                None if library is None else _build_component(root, key, library, class_name, seed + i, dtype)
            )

    kwargs = {**components, **extra_kwargs}
    params = inspect.signature(pipe_cls.__init__).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        unused = [k for k in kwargs if k not in params]
        dropped = [k for k in unused if kwargs[k] is not None and k in components]
        if dropped:
            raise ValueError(
                f"pipeline class {name!r} takes no component(s) {dropped} from {root / MODEL_INDEX}"
            )
        for k in unused:  # null components and settings another pipeline class does not take
            del kwargs[k]
    return pipe_cls(**kwargs)
