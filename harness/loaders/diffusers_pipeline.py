"""ModelCard → Generator for diffusers pipelines of any modality (hub id, local folder, config).

One adapter for every pipeline: our call arguments are mapped onto the parameters the pipeline's
``__call__`` accepts (read from its signature), so a card names only what its pipeline takes.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from harness.config import CallArgs, HubSource, LocalSource, ModelCard
from harness.core.errors import HarnessError, UserInputError
from harness.core.samples import Samples
from harness.loaders.base import Request
from harness.loaders.signature import METADATA_ONLY, PARAMETER_NAMES

DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}

DENOISER_ATTRS = ("unet", "transformer", "prior", "denoiser")
DECODER_ATTRS = ("vae", "vqvae", "movq")
TEXT_ENCODER_ATTRS = ("text_encoder", "text_encoder_2", "text_encoder_3")
# Submodules of diffusers' autoencoders (KL, VQ, Wan, LTX, Oobleck, DC...) that only encoding uses.
ENCODER_ONLY = ("encoder", "quant_conv")


def torch_dtype(name: str) -> Any:
    import torch

    return getattr(torch, DTYPES[name])


class DiffusersGenerator:
    """A diffusers pipeline behind the :class:`~harness.loaders.base.Generator` contract."""

    def __init__(self, pipeline: Any, card: ModelCard, device: str, dtype: str):
        self.pipeline = pipeline
        self.card = card
        self.modality = card.modality
        self.random_weights = card.random_weights
        self.device = device
        self.dtype = dtype
        self._params = set(inspect.signature(pipeline.__call__).parameters)
        self._default_scheduler = pipeline.scheduler if hasattr(pipeline, "scheduler") else None
        # Components whose torch weights a backend released (role → the module, now on the meta device).
        self._released: dict[str, Any] = {}
        pipeline.set_progress_bar_config(disable=True)

    # -- components -------------------------------------------------------------------------------
    def components(self) -> Mapping[str, Any]:
        out: dict[str, Any] = {}
        for attr in DENOISER_ATTRS:
            if getattr(self.pipeline, attr, None) is not None:
                out["denoiser"] = getattr(self.pipeline, attr)
                break
        for attr in DECODER_ATTRS:
            if getattr(self.pipeline, attr, None) is not None:
                out["vae_decoder"] = getattr(self.pipeline, attr)
                break
        for i, attr in enumerate(TEXT_ENCODER_ATTRS):
            if getattr(self.pipeline, attr, None) is not None:
                out["text_encoder" if i == 0 else f"text_encoder_{i + 1}"] = getattr(self.pipeline, attr)
        return out

    def component_attr(self, role: str) -> str:
        attrs = {"denoiser": DENOISER_ATTRS, "vae_decoder": DECODER_ATTRS}.get(role)
        if attrs is None:
            idx = 0 if role == "text_encoder" else int(role.rsplit("_", 1)[1]) - 1
            return TEXT_ENCODER_ATTRS[idx]
        for attr in attrs:
            if getattr(self.pipeline, attr, None) is not None:
                return attr
        raise KeyError(role)

    def replace_component(self, role: str, module: Any) -> None:
        setattr(self.pipeline, self.component_attr(role), module)

    # -- weights released by backends that run outside torch ------------------------------------------
    def release_component(self, role: str) -> bool:
        """Free the torch weights of ``role`` (a backend that runs it outside torch no longer needs them): its
        module moves to the meta device, so its class, config and dtype stay readable but hold no memory.
        :meth:`reload_released` loads them again from the card's source. False: nothing to release."""
        import torch

        module = self.components().get(role)
        if module is None or role in self._released or not isinstance(module, torch.nn.Module):
            return False
        torch.nn.Module.to(module, device="meta")
        self._released[role] = module
        return True

    @property
    def released(self) -> list[str]:
        """Roles whose torch weights are released (and not yet loaded again)."""
        return list(self._released)

    def reload_released(self) -> list[str]:
        """Load the released components again from the card's source, in the pipeline's dtype and on its
        device, in place of their meta-device modules; the weights are the load's, bit for bit (the same files,
        or the same seed and dtype for a config source). Returns the roles loaded."""
        if not self._released:
            return []
        keys = {self.component_attr(role): role for role in self._released}
        fresh = load_components(self.card, self.dtype, list(keys), self.pipeline)
        for key, role in keys.items():
            self.replace_component(role, fresh[key].to(self.device))
        roles = list(self._released)
        self._released.clear()
        return roles

    def _released_in_use(self) -> list[str]:
        comps = self.components()
        return [role for role, module in self._released.items() if comps.get(role) is module]

    def parameter_count(self) -> dict[str, int]:
        """Parameters per role as deployed: what runs in that role. The VAE decoder's role runs ``decode``, so
        its count leaves out the autoencoder's encoder half (``encoder``, ``quant_conv``), which generation
        never calls; the denoiser and text encoders run whole."""
        out = {}
        for role, m in self.components().items():
            if not hasattr(m, "named_parameters"):
                continue
            skip = ENCODER_ONLY if role == "vae_decoder" else ()
            out[role] = sum(
                p.numel() for name, p in m.named_parameters() if name.split(".", 1)[0] not in skip
            )
        return out

    # -- generation -------------------------------------------------------------------------------
    def _set_scheduler(self, call: CallArgs) -> None:
        import diffusers

        if self._default_scheduler is None:
            return
        if call.scheduler is None:
            self.pipeline.scheduler = self._default_scheduler
            return
        cls = getattr(diffusers, call.scheduler.name, None)
        if cls is None or not hasattr(cls, "from_config"):
            raise UserInputError(
                f"unknown diffusers scheduler '{call.scheduler.name}'", field="scheduler.name"
            )
        self.pipeline.scheduler = cls.from_config(self._default_scheduler.config, **call.scheduler.config)

    def call_kwargs(self, request: Request) -> dict[str, Any]:
        import torch

        call = request.call
        kwargs: dict[str, Any] = {}
        given = call.model_dump(exclude_none=True, exclude={"scheduler", "extra", "resolution"})
        for ours, value in given.items():
            names = [n for n in PARAMETER_NAMES[ours] if n in self._params]
            if not names and ours in METADATA_ONLY:
                continue  # e.g. fps: used to save and to count seconds of video, not a pipeline input
            if not names:
                raise UserInputError(
                    f"{type(self.pipeline).__name__} takes no '{ours}' "
                    f"(it accepts: {', '.join(sorted(p for p in self._params if p not in ('self', 'kwargs')))})",
                    source=str(self.card.path),
                )
            kwargs[names[0]] = value
        n = request.batch_size
        if request.prompts is not None:
            kwargs["prompt"] = list(request.prompts)
            if "negative_prompt" in kwargs:
                kwargs["negative_prompt"] = [kwargs["negative_prompt"]] * n
        elif request.class_labels is not None:
            kwargs["class_labels"] = list(request.class_labels)
        elif "batch_size" in self._params:
            kwargs["batch_size"] = n
        # One CPU generator per item: the initial noise of item i depends only on its seed, on any device,
        # so every variant of a model starts from the same latents.
        kwargs["generator"] = [torch.Generator("cpu").manual_seed(int(s)) for s in request.seeds]
        if "output_type" in self._params:
            kwargs["output_type"] = "np"
        if "return_dict" in self._params:
            kwargs["return_dict"] = True
        # Pipelines swallow unknown keywords in **kwargs: a misspelt argument would silently do nothing.
        unknown = sorted(k for k in call.extra if k not in self._params or k == "kwargs")
        if unknown:
            from harness.core.registry import did_you_mean

            raise UserInputError(
                f"{type(self.pipeline).__name__} takes no '{unknown[0]}' "
                f"({did_you_mean(unknown[0], [p for p in self._params if p not in ('self', 'kwargs')])})",
                field="extra",
            )
        kwargs.update(call.extra)
        return kwargs

    def generate(self, request: Request) -> Samples:
        import torch

        gone = self._released_in_use()
        if gone:
            raise HarnessError(
                f"the torch weights of {', '.join(gone)} were released (reload_released() loads them again)"
            )
        self._set_scheduler(request.call)
        kwargs = self.call_kwargs(request)
        try:
            with torch.inference_mode():
                out = self.pipeline(**kwargs)
        except (RuntimeError, NotImplementedError) as exc:
            if self._released and "meta" in str(exc):
                raise HarnessError(
                    f"{type(self.pipeline).__name__} read the torch weights of {', '.join(self._released)}, which "
                    f"the backend released once it no longer ran them ({str(exc).splitlines()[0]}); set "
                    "backend_options.keep_torch_weights: true"
                ) from exc
            raise
        return self.to_samples(out, request)

    def to_samples(self, out: Any, request: Request) -> Samples:
        samples = self._to_samples(out, request)
        samples.prompts = list(request.prompts) if request.prompts is not None else None
        samples.labels = list(request.class_labels) if request.class_labels is not None else None
        return samples

    def _to_samples(self, out: Any, request: Request) -> Samples:
        if self.modality == "image":
            data = _as_array(out.images)
            if data.ndim == 3:  # grayscale (N, H, W)
                data = data[..., None]
            return Samples("image", data, seeds=list(request.seeds))
        if self.modality == "video":
            data = _as_array(out.frames)
            if data.ndim == 4:  # a single video without batch axis
                data = data[None]
            return Samples("video", data, fps=request.call.fps, seeds=list(request.seeds))
        data = _as_array(out.audios)
        if data.ndim == 2:  # (N, T) mono
            data = data[:, None, :]
        return Samples("audio", data, sample_rate=self.sample_rate(), seeds=list(request.seeds))

    def sample_rate(self) -> int | None:
        p = self.pipeline
        for owner, key in (("vae", "sampling_rate"), ("vocoder", "sampling_rate"), ("unet", "sample_rate")):
            module = getattr(p, owner, None)
            cfg = getattr(module, "config", None)
            if cfg is not None and getattr(cfg, key, None):
                return int(getattr(cfg, key))
        return None


def _as_array(x: Any) -> np.ndarray:
    if isinstance(x, list) and x and hasattr(x[0], "size") and hasattr(x[0], "mode"):  # PIL images
        return np.stack([np.asarray(im, dtype=np.float32) / 255.0 for im in x])
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


def _pickle_refused(card: ModelCard, exc: Exception) -> HarnessError | None:
    """A clear error when only pickle weights exist and the card does not allow them."""
    if card.allow_pickle or "safetensors" not in str(exc):
        return None
    return HarnessError(
        f"card '{card.name}': no safetensors weights ({str(exc).strip().splitlines()[-1]}); pickle checkpoints "
        "(.bin, .pt, .ckpt) are refused because unpickling can run code: convert them to safetensors, or set "
        "`allow_pickle: true` in the card if you trust the source (they are then loaded with weights_only=True)"
    )


def _hub_error(card: ModelCard, src: HubSource, exc: Exception) -> HarnessError:
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    how = (
        f"on a connected machine run `hf download {src.repo_id} --revision {src.revision}` and copy "
        "the HF cache (HF_HOME) here, or save the pipeline with save_pretrained and point a card with "
        "`source: {kind: local, path: ...}` at the folder"
    )
    state = "HF_HUB_OFFLINE is set and the" if offline else "the"
    return HarnessError(
        f"card '{card.name}': {state} hub model {src.repo_id}@{src.revision} is not in the local Hugging Face "
        f"cache ({exc.__class__.__name__}); {how}"
    )


def pipeline_class(card: ModelCard) -> Any:
    """The class a card names: ``StableDiffusionPipeline`` (diffusers) or ``package.module:Class``."""
    import importlib

    import diffusers

    if ":" in card.pipeline:
        module, _, attr = card.pipeline.partition(":")
        try:
            cls = getattr(importlib.import_module(module), attr, None)
        except ImportError as exc:
            raise UserInputError(
                f"cannot import '{module}' ({exc})", source=str(card.path), field="pipeline"
            ) from None
    else:
        cls = getattr(diffusers, card.pipeline, None)
    if cls is None or not hasattr(cls, "from_pretrained"):
        raise UserInputError(
            f"'{card.pipeline}' is not a diffusers pipeline class", source=str(card.path), field="pipeline"
        )
    return cls


def load_components(card: ModelCard, dtype: str, keys: list[str], pipeline: Any) -> dict[str, Any]:
    """Components ``keys`` of the card's pipeline loaded again on the CPU as :func:`load_pipeline` loads them:
    a config source builds each from its seed; a hub or local source runs the pipeline's own loader with
    every other component of ``pipeline`` given, so only these are read from disk."""
    src = card.source
    if not isinstance(src, HubSource | LocalSource):
        from harness.loaders.from_config import build_component

        root = card.resolve(src.path)
        return {
            key: build_component(
                root, key, seed=src.seed, dtype=None if dtype == "fp32" else torch_dtype(dtype)
            )
            for key in keys
        }
    given = {k: v for k, v in pipeline.components.items() if k not in keys}
    fresh = load_pipeline(card, dtype, given)
    return {key: getattr(fresh, key) for key in keys}


def load_pipeline(card: ModelCard, dtype: str, given: dict[str, Any] | None = None) -> Any:
    """Build the card's pipeline on the CPU in ``dtype``; never downloads when offline. ``given``: components
    already loaded (hub and local sources), passed to the pipeline's loader instead of being read again."""
    cls = pipeline_class(card)
    tdtype = torch_dtype(dtype)
    src = card.source
    common: dict[str, Any] = {
        "torch_dtype": tdtype,
        "trust_remote_code": card.trust_remote_code,
        "use_safetensors": None if card.allow_pickle else True,
        **(given or {}),
    }
    if isinstance(src, HubSource):
        try:  # the local cache first: fast, and the only way when offline
            return cls.from_pretrained(
                src.repo_id, revision=src.revision, variant=src.variant, local_files_only=True, **common
            )
        except Exception as exc:
            refused = _pickle_refused(card, exc)
            if refused:
                raise refused from None
            if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
                raise _hub_error(card, src, exc) from None
        os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", "10")
        try:
            return cls.from_pretrained(src.repo_id, revision=src.revision, variant=src.variant, **common)
        except Exception as exc:
            raise _hub_error(card, src, exc) from None
    if isinstance(src, LocalSource):
        folder = card.resolve(src.path)
        if not (folder / "model_index.json").is_file():
            raise UserInputError(
                f"{folder} has no model_index.json (expected a folder written by save_pretrained)",
                source=str(card.path),
                field="source.path",
            )
        try:
            return cls.from_pretrained(folder, local_files_only=True, **common)
        except OSError as exc:
            raise _pickle_refused(card, exc) or exc from None
    from harness.loaders.from_config import build_pipeline_from_config_dir

    # Built in the card's dtype (None for fp32: exactly the weights of a plain build), never in fp32 first.
    return build_pipeline_from_config_dir(
        card.resolve(src.path),
        seed=src.seed,
        pipeline_class=card.pipeline,
        dtype=None if dtype == "fp32" else tdtype,
    )


def load(card: ModelCard, device: str, dtype: str) -> DiffusersGenerator:
    pipe = load_pipeline(card, dtype)
    pipe = pipe.to(device)
    return DiffusersGenerator(pipe, card, device, dtype)
