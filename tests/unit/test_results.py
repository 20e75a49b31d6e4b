from __future__ import annotations

import json
import math

import pytest

from harness.errors import UserInputError
from harness.results import RunStore, flatten, number


def test_append_and_read_back_with_infinity(tmp_path):
    store = RunStore.create(tmp_path, "s")
    store.write_meta({"suite": {"name": "s"}})
    store.append({"job_id": "a", "status": "ok", "metrics": {"psnr": {"value": math.inf, "status": "ok"}}})
    store.append({"job_id": "b", "status": "failed"})
    text = (store.path / "records.jsonl").read_text()
    assert "Infinity" not in text  # strict JSON
    recs = RunStore.open(store.path).records()
    assert [r["job_id"] for r in recs] == ["a", "b"]
    assert number(recs[0]["metrics"]["psnr"]["value"]) == math.inf
    assert flatten(recs[0])["psnr"] == math.inf


def test_truncated_last_line_is_ignored(tmp_path):
    store = RunStore.create(tmp_path, "s")
    store.write_meta({})
    store.append({"job_id": "a", "status": "ok"})
    with open(store.path / "records.jsonl", "a") as fh:
        fh.write('{"job_id": "b", "sta')  # killed mid-write
    assert [r["job_id"] for r in store.records()] == ["a"]


def test_open_errors(tmp_path):
    with pytest.raises(UserInputError, match="run folder not found"):
        RunStore.open(tmp_path / "nope")
    with pytest.raises(UserInputError, match=r"not a run folder: no run\.json"):
        RunStore.open(tmp_path)
    (tmp_path / "run.json").write_text("{bad")
    with pytest.raises(UserInputError, match=r"unreadable run\.json"):
        RunStore.open(tmp_path).meta()
    assert json.loads('{"a": 1}')


def test_samples_npz_round_trip_keeps_labels_and_prompts(tmp_path):
    import numpy as np

    from harness.loaders.base import Samples

    s = Samples("image", np.zeros((2, 4, 4, 1), np.float32), seeds=[3, 4], labels=[1, 2], prompts=["a", "b"])
    s.save_npz(tmp_path / "s.npz")
    back = Samples.load_npz(tmp_path / "s.npz")
    assert (back.seeds, back.labels, back.prompts) == ([3, 4], [1, 2], ["a", "b"])
    Samples("audio", np.zeros((1, 1, 8), np.float32), sample_rate=8000).save_npz(tmp_path / "a.npz")
    a = Samples.load_npz(tmp_path / "a.npz")
    assert a.labels is None and a.prompts is None and a.sample_rate == 8000
