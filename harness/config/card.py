"""The model card: where the weights come from (the hub, a local folder, or configs with random weights), the
pipeline class, its dtype, and the call arguments that suite variants override."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, model_validator

from harness.config.fields import (
    NAME_PATTERN,
    DType,
    Modality,
    Pixels,
    Seed,
    Steps,
    Strict,
    Task,
    float_in,
    int_in,
)


class HubSource(Strict):
    """A diffusers repository on the Hugging Face hub (or in the local HF cache when offline)."""

    kind: Literal["hub"]
    repo_id: Annotated[str, Field(pattern=r"^[\w.-]+/[\w.-]+$")]
    revision: str = "main"
    variant: str | None = None


class LocalSource(Strict):
    """A folder written by ``save_pretrained`` (path relative to the card file)."""

    kind: Literal["local"]
    path: str


class ConfigSource(Strict):
    """Architecture configs only: random weights from a fixed seed. Speed runs; no quality scores."""

    kind: Literal["config"]
    path: str
    seed: Seed = 0


Source = Annotated[HubSource | LocalSource | ConfigSource, Field(discriminator="kind")]


class SchedulerSpec(Strict):
    """A diffusers scheduler class, built from the pipeline's scheduler config plus overrides."""

    name: str
    config: dict[str, Any] = Field(default_factory=dict)


class CallArgs(Strict):
    """Arguments of one generation call. Every field is optional: cards set defaults, variants override."""

    steps: Steps | None = None
    guidance_scale: float_in(0.0, 1e4) | None = None
    height: Pixels | None = None
    width: Pixels | None = None
    resolution: Pixels | None = Field(default=None, description="shorthand for height = width")
    num_frames: int_in(1, 100_000) | None = None
    fps: int_in(1, 10_000) | None = None
    audio_seconds: float_in(0.0, 86_400.0, gt=True) | None = None
    scheduler: SchedulerSpec | None = None
    negative_prompt: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict, description="passed to the pipeline call as-is")

    @model_validator(mode="after")
    def _resolution(self) -> CallArgs:
        if self.resolution is not None:
            if self.height is not None or self.width is not None:
                raise ValueError("give either resolution or height/width, not both")
            object.__setattr__(self, "height", self.resolution)
            object.__setattr__(self, "width", self.resolution)
            object.__setattr__(self, "resolution", None)
        return self

    def merged(self, override: CallArgs) -> CallArgs:
        """``self`` with every field that ``override`` sets replaced (``extra`` merged key by key)."""
        data = self.model_dump(exclude_none=True)
        over = override.model_dump(exclude_none=True)
        extra = {**data.pop("extra", {}), **over.pop("extra", {})}
        return CallArgs(**{**data, **over, "extra": extra})


class ModelCard(Strict):
    name: Annotated[str, Field(pattern=NAME_PATTERN, max_length=100)]
    modality: Modality
    task: Task
    pipeline: Annotated[
        str,
        Field(
            pattern=r"^([A-Za-z_][\w.]*:)?[A-Za-z_]\w*$",
            description="a diffusers pipeline class, or 'package.module:Class' for a pipeline of your own",
        ),
    ]
    source: Source
    dtype: DType = "fp32"
    defaults: CallArgs = Field(default_factory=CallArgs)
    license: str
    notes: str = ""
    homepage: str | None = None
    trust_remote_code: bool = False
    allow_pickle: bool = False
    _path: Path | None = PrivateAttr(default=None)

    @property
    def path(self) -> Path | None:
        """The YAML file the card was read from."""
        return self._path

    def resolve(self, relative: str) -> Path:
        """A path from the card, relative to the card file's folder."""
        base = self._path.parent if self._path else Path.cwd()
        return (base / relative).resolve()

    @property
    def random_weights(self) -> bool:
        return self.source.kind == "config"
