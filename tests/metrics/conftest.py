"""Fixtures the metric tests share."""

from __future__ import annotations

import pytest


@pytest.fixture
def offline_env(monkeypatch, tmp_path):
    """Empty torch hub and HF caches, so only HARNESS_WEIGHTS_DIR can provide weights."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.delenv("HARNESS_WEIGHTS_DIR", raising=False)
    return tmp_path


@pytest.fixture
def one_thread():
    """torch on one thread for the test (networks built here are small; the machine is shared), then back."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(before)
