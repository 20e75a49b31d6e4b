"""What a pipeline's ``__call__`` accepts, read from its source without importing it, and the check of a card's
call arguments against it.

``harness validate`` must catch what every job would reject (``resolution:`` on a pipeline without
``height``/``width``) in seconds, and importing diffusers costs ~5 s and a gigabyte; so the class is found in
the installed package's files and its ``__call__`` read with :mod:`ast`. Where the source cannot be read
(a compiled module, a ``__call__`` inherited from a class defined elsewhere), the check is skipped and the
loader's own check at run time still applies (``DiffusersGenerator.call_kwargs``).
"""

from __future__ import annotations

import ast
import importlib.machinery
import importlib.util
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from harness.core.errors import UserInputError
from harness.core.registry import did_you_mean

# Our call argument → the parameter names pipelines use for it, in order of preference.
PARAMETER_NAMES: dict[str, tuple[str, ...]] = {
    "steps": ("num_inference_steps",),
    "guidance_scale": ("guidance_scale",),
    "height": ("height",),
    "width": ("width",),
    "num_frames": ("num_frames", "video_length"),
    "fps": ("fps", "frame_rate"),
    "audio_seconds": ("audio_end_in_s", "audio_length_in_s"),
    "negative_prompt": ("negative_prompt",),
}
# Arguments that describe the output when the pipeline does not take them.
METADATA_ONLY = frozenset({"fps"})
# Arguments the harness passes itself (from the workload, the seeds, the output format).
INTERNAL = frozenset(
    {"self", "kwargs", "prompt", "class_labels", "batch_size", "generator", "output_type", "return_dict"}
)

_CLASS_RE = re.compile(r"^class (\w+)\(", re.M)


@dataclass(frozen=True)
class CallSignature:
    """The named parameters of a pipeline's ``__call__`` (and whether it also takes ``**kwargs``)."""

    cls: str
    parameters: frozenset[str]
    var_keyword: bool

    def accepted(self) -> list[str]:
        return sorted(p for p in self.parameters if p not in ("self", "kwargs"))


def _package_dir(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    return Path(spec.origin).parent


@lru_cache(maxsize=4)
def _class_index(package: str, subfolder: str) -> dict[str, Path]:
    """``class Name(`` → its file, for every module under ``package/subfolder`` (read as text)."""
    root = _package_dir(package)
    if root is None or not (root / subfolder).is_dir():
        return {}
    index: dict[str, Path] = {}
    for path in sorted((root / subfolder).rglob("*.py")):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for m in _CLASS_RE.finditer(text):
            index.setdefault(m.group(1), path)
    return index


def diffusers_installed() -> bool:
    return _package_dir("diffusers") is not None


def pipeline_classes() -> dict[str, Path]:
    """The pipeline classes diffusers defines (names ending in ``Pipeline``), to their source files."""
    return {k: v for k, v in _class_index("diffusers", "pipelines").items() if k.endswith("Pipeline")}


def scheduler_classes() -> dict[str, Path]:
    return {k: v for k, v in _class_index("diffusers", "schedulers").items() if k.endswith("Scheduler")}


def _module_spec(module: str) -> importlib.machinery.ModuleSpec | None:
    try:
        return importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None


def _imported_class(module: str, cls: str) -> type:
    """``module.cls`` by importing ``module`` (what the loader does at run time), or why it is no pipeline."""
    try:
        obj = getattr(importlib.import_module(module), cls, None)
    except Exception as exc:  # the user's module: whatever its import raises is the reason
        raise UserInputError(
            f"cannot import the module '{module}' ({type(exc).__name__}: {exc})", field="pipeline"
        ) from None
    if obj is None:
        raise UserInputError(f"module '{module}' defines no class '{cls}'", field="pipeline")
    if not isinstance(obj, type):
        raise UserInputError(
            f"'{cls}' in module '{module}' is a {type(obj).__name__}, not a class (allowed: a pipeline class, "
            "package.module:Class)",
            field="pipeline",
        )
    if not hasattr(obj, "from_pretrained"):
        raise UserInputError(
            f"'{module}:{cls}' is not a pipeline class: it has no from_pretrained (allowed: a diffusers "
            "DiffusionPipeline subclass)",
            field="pipeline",
        )
    return obj


def locate_pipeline(pipeline: str) -> Path | None:
    """The source file of a card's ``pipeline`` (a diffusers class name or ``package.module:Class``); None for
    a class without Python source (its ``__call__`` is then not read).

    A ``package.module:Class`` whose module's own source defines no such class (it imports it from
    elsewhere, or the module has no ``.py`` source: built in, frozen, compiled) is looked up by importing the
    module, as the loader does at run time.

    Raises:
        UserInputError: the class cannot be found (with the closest diffusers names), its module cannot be
            found or imported, or what it names is not a pipeline class. The field is ``pipeline``.
    """
    if ":" in pipeline:
        import inspect

        module, _, cls = pipeline.partition(":")
        spec = _module_spec(module)
        if spec is None:
            raise UserInputError(
                f"cannot find the module '{module}' (is its package installed?)", field="pipeline"
            )
        path = Path(spec.origin) if spec.origin and spec.origin.endswith(".py") else None
        if path is not None and re.search(
            rf"^class {re.escape(cls)}\b", path.read_text(encoding="utf-8"), re.M
        ):
            return path
        try:
            source = inspect.getsourcefile(_imported_class(module, cls))
        except TypeError:  # a class defined in C
            source = None
        return Path(source) if source else None
    if not diffusers_installed():
        raise UserInputError("diffusers is not installed (pip install -e '.[run]')", field="pipeline")
    classes = pipeline_classes()
    if pipeline not in classes:
        raise UserInputError(
            f"'{pipeline}' is not a diffusers pipeline class ({_hint(pipeline, classes)})", field="pipeline"
        )
    return classes[pipeline]


def _hint(name: str, classes: dict[str, Path]) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(classes), n=3, cutoff=0.6)
    return (
        f"did you mean {', '.join(repr(c) for c in close)}?"
        if close
        else f"{len(classes)} pipeline classes exist"
    )


def _call_of(tree: ast.Module, cls: str) -> tuple[ast.FunctionDef | ast.AsyncFunctionDef | None, list[str]]:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name == "__call__":
                    return item, []
            bases = [b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases]
            return None, [b for b in bases if b]
    return None, []


def _call_function(pipeline: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The ``__call__`` node of a card's pipeline class (followed up its diffusers bases), or None."""
    path = locate_pipeline(pipeline)
    if path is None:
        return None
    cls = pipeline.partition(":")[2] or pipeline
    seen: set[str] = set()
    while cls and cls not in seen:
        seen.add(cls)
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError):
            return None
        fn, bases = _call_of(tree, cls)
        if fn is not None:
            return fn
        # Inherited: follow the first base that diffusers defines (DiffusionPipeline has no __call__).
        nxt = next((b for b in bases if b in pipeline_classes() and b != "DiffusionPipeline"), None)
        if nxt is None:
            return None
        cls, path = nxt, pipeline_classes()[nxt]
    return None


@lru_cache(maxsize=256)
def call_signature(pipeline: str) -> CallSignature | None:
    """The ``__call__`` of a card's pipeline class, read from source; None where it cannot be read."""
    fn = _call_function(pipeline)
    if fn is None:
        return None
    a = fn.args
    names = {x.arg for x in [*a.posonlyargs, *a.args, *a.kwonlyargs]}
    return CallSignature(pipeline, frozenset(names), a.kwarg is not None)


def call_defaults(pipeline: str) -> dict[str, object]:
    """The literal default values of the ``__call__`` parameters (``num_inference_steps=50``); parameters
    whose default is not a literal (a constant from elsewhere, an expression) are left out."""
    fn = _call_function(pipeline)
    if fn is None:
        return {}
    a = fn.args
    positional = [*a.posonlyargs, *a.args]
    pairs = list(zip(positional[len(positional) - len(a.defaults) :], a.defaults, strict=True))
    pairs += [(arg, d) for arg, d in zip(a.kwonlyargs, a.kw_defaults, strict=True) if d is not None]
    out: dict[str, object] = {}
    for arg, node in pairs:
        try:
            out[arg.arg] = ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
    return out


def check_call_args(pipeline: str, call: object, *, field: str, source: str | None = None) -> None:
    """Every call argument the user wrote (``call.model_fields_set``, so ``resolution`` is named as written)
    must be one the pipeline takes. Bad input names ``field.<key>``."""
    from harness.config import CallArgs

    if not isinstance(call, CallArgs):
        return
    sig = call_signature(pipeline)
    if sig is None:
        return
    name = pipeline.partition(":")[2] or pipeline
    params = sig.parameters
    accepts = ", ".join(p for p in sig.accepted() if p not in INTERNAL)
    for key in sorted(call.model_fields_set):
        if key in ("extra", "scheduler", *METADATA_ONLY):
            continue
        ours = ("height", "width") if key == "resolution" else (key,)
        if key != "resolution" and getattr(call, key, None) is None:
            continue  # written as null: nothing is passed
        missing = [o for o in ours if not any(n in params for n in PARAMETER_NAMES[o])]
        if missing:
            what = "height/width" if key == "resolution" else "/".join(PARAMETER_NAMES[key])
            raise UserInputError(
                f"{name} takes no {what}, so '{key}' cannot apply (it accepts: {accepts or 'none of ours'})",
                source=source,
                field=f"{field}.{key}",
            )
    for key in call.extra:
        if key not in params or key in ("self", "kwargs"):
            raise UserInputError(
                f"{name} takes no '{key}' ({did_you_mean(key, [p for p in sig.accepted() if p not in INTERNAL])})",
                source=source,
                field=f"{field}.extra.{key}",
            )
        if key in INTERNAL:
            raise UserInputError(
                f"'{key}' is set by the harness (from the workload and the seeds), not by the card",
                source=source,
                field=f"{field}.extra.{key}",
            )
    scheduler = getattr(call, "scheduler", None)
    if scheduler is not None and diffusers_installed():
        schedulers = scheduler_classes()
        if schedulers and scheduler.name not in schedulers:
            raise UserInputError(
                f"unknown diffusers scheduler '{scheduler.name}' ({did_you_mean(scheduler.name, schedulers)})",
                source=source,
                field=f"{field}.scheduler.name",
            )
