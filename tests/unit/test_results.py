"""The record schema (version 2, reading version 1) and run folders: append, read back, torn and bad lines."""

from __future__ import annotations

import json
import math

import pytest

from harness.core.errors import UserInputError
from harness.results import SCHEMA_VERSION, Record, RunStore, flatten, parse_record
from harness.results.record import upgrade
from tests.helpers import ROOT


def _rec(job_id: str = "a", **over) -> dict:
    data = {"job_id": job_id, "model": "m", "variant": "v", "backend": "eager", "status": "ok"}
    data.update(over)
    return data


def test_append_and_read_back_with_infinity(tmp_path):
    store = RunStore.create(tmp_path, "s")
    store.write_meta({"suite": {"name": "s"}})
    psnr = {"value": math.inf, "status": "ok", "higher_is_better": True, "unit": "dB"}
    store.append(_rec("a", metrics={"psnr": psnr}))
    store.append(_rec("b", status="failed", error={"type": "E", "message": "boom"}))
    text = (store.path / "records.jsonl").read_text()
    assert "Infinity" not in text and '"inf"' in text  # strict JSON
    recs = RunStore.open(store.path).records()
    assert [r.job_id for r in recs] == ["a", "b"]
    assert all(isinstance(r, Record) and r.schema_version == SCHEMA_VERSION for r in recs)
    assert recs[0].metric_value("psnr") == math.inf
    assert flatten(recs[0])["psnr"] == math.inf
    assert recs[1].error.message == "boom" and not recs[1].ok


def test_appending_a_malformed_record_is_refused_before_the_file(tmp_path):
    store = RunStore.create(tmp_path, "s")
    with pytest.raises(UserInputError, match=r"record: status: 'fine' is not allowed"):
        store.append(_rec(status="fine"))
    assert not (store.path / "records.jsonl").exists()


def test_a_torn_last_line_is_a_warning_and_its_job_missing(tmp_path):
    store = RunStore.create(tmp_path, "s")
    store.write_meta({})
    store.append(_rec("a"))
    with open(store.path / "records.jsonl", "a") as fh:
        fh.write('{"schema": 2, "job_id": "b", "sta')  # killed mid-write
    read = store.read()
    assert [r.job_id for r in read.records] == ["a"]
    assert read.torn_job_ids == ["b"]
    assert len(read.warnings) == 1 and "records.jsonl:2: the last line is cut short" in read.warnings[0]
    assert "job b counts as missing" in read.warnings[0]


def test_a_bad_line_in_the_middle_is_bad_input_naming_it(tmp_path):
    store = RunStore.create(tmp_path, "s")
    store.append(_rec("a"))
    with open(store.path / "records.jsonl", "a") as fh:
        fh.write("not json at all\n")
    store.append(_rec("c"))
    with pytest.raises(UserInputError, match=r"records\.jsonl:2: not JSON"):
        store.read()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"batch_size": "four"}, r"records\.jsonl:1: batch_size: Input should be a valid integer"),
        ({"latency_ms": {"p50": 1.0}}, r"records\.jsonl:1: latency_ms\.n: missing \(required\)"),
        ({"metrics": {"psnr": {"value": 1.0}}}, r"metrics\.psnr\.higher_is_better: missing"),
        ({"typo_field": 1}, r"typo_field: unknown key"),
        ({"schema": 3}, r"schema: version 3 was written by a newer harness"),
        ({"schema": 0}, r"schema: version 0 is not known"),
        ({"schema": True}, r"schema: True is not a schema version"),
    ],
)
def test_a_record_that_breaks_the_schema_names_line_and_field(tmp_path, edit, message):
    store = RunStore.create(tmp_path, "s")
    (store.path / "records.jsonl").write_text(json.dumps(_rec(**edit)) + "\n")
    with pytest.raises(UserInputError, match=message):
        store.read()


def test_a_json_line_that_is_not_an_object_is_bad_input(tmp_path):
    store = RunStore.create(tmp_path, "s")
    (store.path / "records.jsonl").write_text("[1, 2]\n")
    with pytest.raises(UserInputError, match=r"records\.jsonl:1: expected a JSON object, got list"):
        store.read()


def test_version_1_records_are_upgraded_on_read():
    v1 = _rec(
        schema=1,
        metrics={
            "si_sdr": {
                "value": None,
                "status": "skipped",
                "reason": "applies to audio, not image",
                "higher_is_better": True,
                "applicable": False,
            },
            "fid": {
                "value": None,
                "status": "skipped",
                "reason": "weights missing",
                "higher_is_better": False,
            },
        },
    )
    rec = parse_record(v1, where="x")
    assert rec.schema_version == 2
    assert rec.metrics["si_sdr"].status == "not_applicable"
    assert rec.metrics["fid"].status == "skipped"
    assert "applicable" not in upgrade(v1)["metrics"]["si_sdr"]


def test_the_committed_version_1_baselines_still_read():
    for path in sorted((ROOT / "results" / "baselines" / "smoke").iterdir()):
        store = RunStore.open(path)
        recs = store.records()
        assert recs and all(r.ok and r.latency_ms is not None and r.latency_ms.samples for r in recs)
        assert store.meta().suite_name == "smoke"


def test_open_errors(tmp_path):
    with pytest.raises(UserInputError, match="run folder not found"):
        RunStore.open(tmp_path / "nope")
    with pytest.raises(UserInputError, match=r"not a run folder: no run\.json"):
        RunStore.open(tmp_path)
    (tmp_path / "f").write_text("x")
    with pytest.raises(UserInputError, match="not a run folder: a file"):
        RunStore.open(tmp_path / "f")
    (tmp_path / "run.json").write_text("{bad")
    with pytest.raises(UserInputError, match=r"run\.json: not JSON"):
        RunStore.open(tmp_path).meta()
    (tmp_path / "run.json").write_text('["a"]')
    with pytest.raises(UserInputError, match=r"run\.json: expected a JSON object, got list"):
        RunStore.open(tmp_path).meta()
    (tmp_path / "run.json").write_text('{"jobs": 3}')
    with pytest.raises(UserInputError, match=r"run\.json: jobs: "):
        RunStore.open(tmp_path).meta()


def test_samples_npz_round_trip_keeps_labels_and_prompts(tmp_path):
    import numpy as np

    from harness.core.samples import Samples

    s = Samples("image", np.zeros((2, 4, 4, 1), np.float32), seeds=[3, 4], labels=[1, 2], prompts=["a", "b"])
    s.save_npz(tmp_path / "s.npz")
    back = Samples.load_npz(tmp_path / "s.npz")
    assert (back.seeds, back.labels, back.prompts) == ([3, 4], [1, 2], ["a", "b"])
    Samples("audio", np.zeros((1, 1, 8), np.float32), sample_rate=8000).save_npz(tmp_path / "a.npz")
    a = Samples.load_npz(tmp_path / "a.npz")
    assert a.labels is None and a.prompts is None and a.sample_rate == 8000
