"""Imported once by the fork server, so each job's process starts with torch and diffusers loaded."""

from harness.backends.cache import configure_compiler_caches

configure_compiler_caches()  # before torch is imported

import diffusers  # noqa: E402, F401
import torch  # noqa: E402, F401
