"""Imported once by the fork server, so each job's process starts with torch and diffusers loaded."""

import diffusers  # noqa: F401
import torch  # noqa: F401
