"""Benchmark (#26 done-when): one job's quality pass in 1 and in N shards on a local Ray cluster: the same values?
And how long did each take?

Not part of the normal test run (pytest collects ``test_*.py`` only). Run it by naming it:

    python tests/benchmarks/bench_shards.py [--samples 4000] [--shards 4] [--steps 10] [--cpus 2]

It writes a suite for digits-small (the trained zoo model, DDIM) with ``fd_digits``, ``kid`` (digits features
against the zoo's held-out digits, written here as a KID reference; they are 360, so subsets of 300) and the four PRDC metrics, runs it with
``--shards 1`` and ``--shards N`` under ``--executor ray`` on a local Ray cluster (``ray.init``) of ``--cpus``
CPUs, one after the other, and prints each metric's two values, their relative difference, and each run's
quality-pass wall time and device-seconds (from the records). Nothing is asserted: on a machine shared with
other work the times are what they were; the values must agree to 1e-12 relative.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def kid_reference(path: Path) -> None:
    """The zoo's held-out digits as reference FEATURES (KID compares with features, not mu/sigma)."""
    from harness.metrics.extractors import build_extractor
    from harness.metrics.feature_stats import StreamingStats

    ext = build_extractor("digits-extractor", device="cpu")
    feats = ext.reference_features()
    feats = feats[0] if isinstance(feats, tuple) else feats
    StreamingStats.from_features(feats, keep_features=True).to_npz(
        path, include_features=True, fingerprint=ext.fingerprint()
    )


def suite(samples: int, steps: int, kid_ref: Path) -> dict:
    features = {"extractor": "digits-extractor"}
    ddim = {"name": "DDIMScheduler", "config": {"timestep_spacing": "trailing", "clip_sample": False}}
    return {
        "name": "bench-shards",
        "device": "cpu",
        "threads": 1,
        "models": [
            {
                "card": str(ROOT / "model_cards" / "digits-small.yaml"),
                "variants": [{"name": f"ddim-{steps}", "overrides": {"steps": steps, "scheduler": ddim}}],
            }
        ],
        "workload": {
            "class_labels": list(range(10)),
            "seed": 0,
            "batch_size": 100,
            "num_samples": samples,
        },
        "measurement": {"warmup": 1, "min_iterations": 3, "max_iterations": 3, "timeout_s": 1800},
        "metrics": [
            "fd_digits",
            {"name": "kid", "options": {**features, "reference_path": str(kid_ref), "subset_size": 300}},
            *(
                {"name": f"prdc_{m}", "options": features}
                for m in ("precision", "recall", "density", "coverage")
            ),
        ],
    }


def run(suite_path: Path, out: Path, shards: int, executor: str) -> dict:
    """``harness run`` in this process, on the Ray cluster ``ray.init`` started here."""
    import contextlib
    import io

    from harness.cli import main as harness

    buf = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(buf):
        code = harness(
            [
                "run",
                str(suite_path),
                "--out",
                str(out),
                "--shards",
                str(shards),
                "--executor",
                executor,
                "--quiet",
            ]
        )
    wall = time.perf_counter() - t0
    if code != 0:
        sys.exit(f"harness run --shards {shards} exited {code}:\n{buf.getvalue()}")
    run_dir = Path(buf.getvalue().strip().splitlines()[-1])
    record = json.loads((run_dir / "records.jsonl").read_text().splitlines()[0])
    return {"record": record, "run_wall_s": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=4000)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray cluster started here")
    ap.add_argument(
        "--executor", choices=["ray", "local"], default="ray", help="local: worker processes, no Ray"
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-shards-") as tmp:
        tmp_path = Path(tmp)
        kid_ref = tmp_path / "digits_heldout_features.npz"
        kid_reference(kid_ref)
        suite_path = tmp_path / "suite.yaml"
        suite_path.write_text(yaml.safe_dump(suite(args.samples, args.steps, kid_ref), sort_keys=False))
        if args.executor == "local":
            results = {n: run(suite_path, tmp_path / f"s{n}", n, "local") for n in (1, args.shards)}
        else:
            import ray

            ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
            try:
                results = {n: run(suite_path, tmp_path / f"s{n}", n, "ray") for n in (1, args.shards)}
            finally:
                ray.shutdown()
    a, b = results[1]["record"], results[args.shards]["record"]
    where = f"local Ray cluster of {args.cpus} CPUs" if args.executor == "ray" else "local worker processes"
    print(f"digits-small DDIM {args.steps}, {args.samples} samples, {where}")
    print(f"{'metric':16} {'1 shard':>22} {f'{args.shards} shards':>22} {'rel. diff':>10}")
    worst = 0.0
    for name, m in a["metrics"].items():
        x, y = m["value"], b["metrics"][name]["value"]
        rel = abs(x - y) / max(abs(x), abs(y), 1e-300) if x is not None and y is not None else float("nan")
        worst = max(worst, rel) if rel == rel else worst
        print(
            f"{name:16} {x!r:>22} {y!r:>22} {rel:10.2e}   (n {m.get('n')} / {b['metrics'][name].get('n')}, "
            f"{m['status']} / {b['metrics'][name]['status']})"
        )
    print(f"largest relative difference: {worst:.2e} (goal <= 1e-12)")
    for n in (1, args.shards):
        q = results[n]["record"]["quality"]
        print(
            f"{n} shard(s): quality pass wall {q['wall_s']:.1f} s, device-seconds {q['device_s']:.1f} s, "
            f"{q['items_per_s']:.0f} items/s; whole run {results[n]['run_wall_s']:.1f} s; each shard "
            + ", ".join(f"{p['wall_s']:.1f}" for p in q["parts"])
            + " s"
        )


if __name__ == "__main__":
    main()
