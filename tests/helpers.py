"""Shared helpers of the tests (importable as ``tests.helpers``)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


def tiny_suite(**over):
    """A fast suite over the tiny image card (2 steps, 2 timed iterations)."""
    suite = {
        "name": "t",
        "threads": 1,  # one per job: on 2 shared cores a second thread beside other work slows torch many-fold
        "models": [
            {
                "card": str(ROOT / "model_cards" / "tiny-sd.yaml"),
                "baseline": "s2",
                "variants": [
                    {"name": "s2", "overrides": {"steps": 2}},
                    {"name": "s1", "overrides": {"steps": 1}},
                ],
            }
        ],
        "workload": {"prompts": ["a red circle"], "num_samples": 2},
        "measurement": {"warmup": 1, "min_iterations": 2, "max_iterations": 2, "timeout_s": 600},
        "metrics": ["psnr", "ssim"],
        "objectives": {"latency_ms.p50": "min", "psnr": "max"},
    }
    suite.update(over)
    return suite
