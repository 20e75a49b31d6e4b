"""Benchmark: a job's fixed cost, fork to ready, against the pipeline's own load.

Not part of the normal test run (pytest collects ``test_*.py`` only). Run it by naming it:

    python tests/benchmarks/bench_fork.py [--card model_cards/digits-small.yaml] [--forks 5]

It measures, for one card, in one go:

* **own load**: ``load_generator`` (diffusers' ``from_pretrained`` behind the card) in a process that has loaded
  the card before, so every import is done: the pipeline's own load, the floor;
* **fork to ready, warm**: from ``Process.start()`` in the executor's fork server, warmed with what the job imports
  (``harness.execute.warm``, as ``harness run`` does), to the pipeline loaded in the forked job process;
* **fork to ready, cold**: the same from a fork server that preloads only torch and diffusers (before the warm
  step existed).

Each is the median of ``--forks`` runs; each fork server runs in its own interpreter so neither warms the
other. The goal (issue 19): warm fork-to-ready within 0.3 s of the own load on these machines. Prints the three
medians, the differences and the ratio cold/warm; nothing is asserted (timings on a shared machine are not tests).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _ready(card_path: str, started: float, queue) -> None:
    """In the forked job process: what a job does before its first measurement (the worker's imports, the card,
    the load); reports seconds since the parent's ``start()`` and the load alone."""
    from harness.config import load_card
    from harness.execute.worker import load_pipeline  # noqa: F401  (a job imports it first)
    from harness.loaders import load_generator

    card = load_card(card_path)
    t0 = time.perf_counter()
    load_generator(card, "cpu", card.dtype)
    load_s = time.perf_counter() - t0
    queue.put((time.time() - started, load_s))


def measure_forks(card_path: str, forks: int, warm: bool) -> dict[str, float]:
    """In this interpreter: start a fork server (warmed or not) and time ``forks`` jobs' fork-to-ready."""
    import multiprocessing as mp

    from harness.config import CallArgs
    from harness.config.backends import EagerOptions
    from harness.config.job import Job
    from harness.execute.local import start_fork_server
    from harness.execute.warm import ENV

    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["harness.execute._preload"])
    if warm:
        from harness.config import load_card

        card = load_card(card_path)
        job = Job(
            job_id="bench",
            suite="bench",
            model=card.name,
            variant="v",
            backend="eager",
            backend_options=EagerOptions(),
            dtype=card.dtype,
            batch_size=1,
            call=CallArgs(),
            card_path=card_path,
            baseline_job_id=None,
            modality=card.modality,
            task=card.task,
            random_weights=False,
            card=card,
        )
        start_fork_server([job])
    else:
        os.environ[ENV] = "[]"
        from multiprocessing import forkserver

        forkserver.ensure_running()
    queue = ctx.Queue()
    ready, loads = [], []
    for _ in range(forks):
        started = time.time()
        proc = ctx.Process(target=_ready, args=(card_path, started, queue))
        proc.start()
        r, load_s = queue.get(timeout=600)
        proc.join()
        ready.append(r)
        loads.append(load_s)
    return {"fork_to_ready_s": statistics.median(ready), "load_in_child_s": statistics.median(loads)}


def own_load(card_path: str, repeats: int) -> float:
    """The pipeline's own load: ``load_generator`` again in a process that has loaded it once."""
    from harness.config import load_card
    from harness.loaders import load_generator

    card = load_card(card_path)
    load_generator(card, "cpu", card.dtype)  # every import done
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        load_generator(card, "cpu", card.dtype)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _in_fresh_interpreter(mode: str, card: str, forks: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--card", card, "--forks", str(forks), "--mode", mode],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--card", default=str(ROOT / "model_cards" / "digits-small.yaml"))
    p.add_argument("--forks", type=int, default=5)
    p.add_argument("--mode", choices=["all", "warm", "cold", "own"], default="all")
    args = p.parse_args()
    card = str(Path(args.card).resolve())
    if args.mode == "own":
        print(json.dumps({"own_load_s": own_load(card, args.forks)}))
        return
    if args.mode in ("warm", "cold"):
        print(json.dumps(measure_forks(card, args.forks, warm=args.mode == "warm")))
        return
    own = _in_fresh_interpreter("own", card, args.forks)["own_load_s"]
    warm = _in_fresh_interpreter("warm", card, args.forks)
    cold = _in_fresh_interpreter("cold", card, args.forks)
    print(f"card: {Path(card).name}, {args.forks} forks each, medians")
    print(f"  own load (from_pretrained, imports done):      {own:.3f} s")
    print(
        f"  fork to ready, warm fork server:               {warm['fork_to_ready_s']:.3f} s "
        f"(load inside it {warm['load_in_child_s']:.3f} s)"
    )
    print(
        f"  fork to ready, cold (torch + diffusers only):  {cold['fork_to_ready_s']:.3f} s "
        f"(load inside it {cold['load_in_child_s']:.3f} s)"
    )
    print(f"  warm − own load: {warm['fork_to_ready_s'] - own:+.3f} s (goal ≤ 0.3 s)")
    print(f"  cold − own load: {cold['fork_to_ready_s'] - own:+.3f} s")
    print(f"  cold / warm fork-to-ready: {cold['fork_to_ready_s'] / warm['fork_to_ready_s']:.1f}×")


if __name__ == "__main__":
    main()
