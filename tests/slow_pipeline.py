"""A Stable Diffusion pipeline that is slow where a test says: its load, its first call, or a call that hangs.

A card names it as ``pipeline: tests.slow_pipeline:SlowPipeline`` with a ``local`` source: a folder written by
``save_pretrained`` that also holds ``slow.json`` (``load_s``, ``first_call_s``, ``hang_call``). The job's
worker process imports it like any pipeline of the user's own, so the budgets are tested on a real job
without a real long compile.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from diffusers import StableDiffusionPipeline


class SlowPipeline(StableDiffusionPipeline):
    @classmethod
    def from_pretrained(cls, folder: Any, **kwargs: Any) -> SlowPipeline:
        plan = json.loads((Path(folder) / "slow.json").read_text())
        time.sleep(plan.get("load_s", 0.0))
        pipe = super().from_pretrained(folder, **kwargs)
        pipe._slow_plan, pipe._slow_calls = plan, 0
        return pipe

    def encode_prompt(self, *args: Any, **kwargs: Any) -> Any:  # once per generation call
        self._slow_calls += 1
        if self._slow_calls == 1:
            time.sleep(self._slow_plan.get("first_call_s", 0.0))
        if self._slow_calls == self._slow_plan.get("hang_call"):
            time.sleep(3600)
        return super().encode_prompt(*args, **kwargs)
