"""A suite's ``workload:`` section (a model entry may replace some of its fields): what each job generates."""

from __future__ import annotations

from pydantic import Field, model_validator

from harness.config.fields import MAX_COUNT, MAX_SEED, BatchSize, Count, Seed, Strict, int_in


class Workload(Strict):
    """What each job generates. Item ``i`` uses seed ``seed + i`` in every variant (same noise)."""

    prompts: list[str] | None = None
    prompts_file: str | None = None
    class_labels: list[int_in(0, MAX_COUNT)] | None = None
    seed: Seed = 0
    batch_size: BatchSize = 1
    num_samples: Count | None = Field(
        default=None, description="items generated for quality metrics (default: one batch)"
    )
    shards: Count = Field(
        default=1,
        description="split each job's quality pass into this many shards of whole batches, run in parallel "
        "(Ray tasks, or local worker processes) and merged exactly; speed is measured on one device",
    )
    audit_atol: float | None = Field(
        default=None,
        ge=0,
        description="the largest |difference| allowed between the timed pass's outputs and the quality pass's "
        "for the same seeds (MLPerf TEST01); null: by dtype (float32 1e-3, half precision 5e-2)",
    )

    @model_validator(mode="after")
    def _prompts(self) -> Workload:
        if self.prompts is not None and self.prompts_file is not None:
            raise ValueError("give either prompts or prompts_file, not both")
        if self.prompts is not None and not self.prompts:
            raise ValueError("prompts is empty")
        if self.class_labels is not None and not self.class_labels:
            raise ValueError("class_labels is empty")
        if self.seed + (self.num_samples or self.batch_size) - 1 > MAX_SEED:
            raise ValueError(
                f"seed {self.seed} + num_samples would pass {MAX_SEED} (item i uses seed + i): use a smaller seed"
            )
        return self
