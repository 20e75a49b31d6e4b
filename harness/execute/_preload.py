"""Imported once by the fork server, so each job's process starts with torch, diffusers and whatever else the
run's jobs will import already loaded (``harness.execute.warm``: the executor lists them in the environment)."""

from harness.backends.cache import configure_compiler_caches

configure_compiler_caches()  # before torch is imported

import diffusers  # noqa: E402, F401
import torch  # noqa: E402, F401

from harness.execute.warm import warm_from_environment  # noqa: E402

warm_from_environment()
