"""A job carries what its worker needs (#25 item 2): it runs from its JSON alone, its card file gone."""

from __future__ import annotations

import json
import shutil

from harness.config import load_suite
from harness.config.job import Job
from harness.config.plan import plan
from harness.execute.worker import run_job
from tests.helpers import ROOT, tiny_suite


def test_a_job_runs_from_its_json_after_its_card_file_is_gone(write_yaml, tmp_path):
    """#25 item 2: the worker reads the card from the job, not from ``card_path`` (it used to load the card's
    YAML again): with the file removed after planning, the job's JSON still loads and the job runs ok."""
    cards = tmp_path / "cards"
    shutil.copytree(ROOT / "model_cards" / "configs" / "tiny-sd", cards / "configs" / "tiny-sd")
    card = cards / "tiny-sd.yaml"
    shutil.copy(ROOT / "model_cards" / "tiny-sd.yaml", card)
    suite = tiny_suite(
        threads=1,
        metrics=["psnr"],
        measurement={"warmup": 1, "min_iterations": 1, "max_iterations": 1, "profile_stages": False},
    )
    suite["models"][0]["card"] = str(card)
    suite["models"][0]["variants"] = [{"name": "s1", "overrides": {"steps": 1}}]
    suite["models"][0]["baseline"] = "s1"
    (job,) = plan(load_suite(write_yaml("s.yaml", suite)))
    data = json.loads(json.dumps(job.to_dict()))
    card.unlink()
    back = Job.from_dict(data)
    assert back.card.name == "tiny-sd" and back.call.steps == 1
    run = tmp_path / "run"
    (run / "outputs").mkdir(parents=True)  # as RunStore lays a run folder out
    record = run_job(back, run, "cpu")
    assert record.status == "ok", record.error
    assert record.latency_ms.n == 1 and record.metrics["psnr"].status == "ok"
