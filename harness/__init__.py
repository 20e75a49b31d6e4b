"""Benchmark image, video and audio generators: speed, memory, compile cost and quality.

The package imports nothing heavy at start-up: torch, diffusers and friends are imported inside the
code that runs a job, so ``harness --help``, ``validate``, ``report`` and ``compare`` start fast.
"""

__version__ = "0.1.0"
