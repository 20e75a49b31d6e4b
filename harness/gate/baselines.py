"""Folders of baselines: one recorded run per kind of machine, and picking the one that can judge a head run."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from harness.core.errors import UserInputError
from harness.results.runs import NotComparable, Run, environment_differences


def baseline_key(run: Run) -> str:
    """A baseline's folder name in a folder of baselines: the kind of machine and software it can judge."""
    env = run.comparable_environment()
    parts = [env["device"], env["device name"], f"torch{env['torch']}", f"{env['torch threads']}t"]
    slug = re.sub(r"[^a-z0-9.]+", "-", " ".join(str(p) for p in parts if p is not None).lower())
    return re.sub(r"\((r|tm)\)", "", slug).strip("-.") or "baseline"


def baselines_in(folder: Path) -> list[Path]:
    """The runs of a folder of baselines (sorted), or [] when ``folder`` is itself a run."""
    if (folder / "run.json").is_file() or not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if (p / "run.json").is_file())


def open_baseline(path: str | Path, head: Run, *, allow_mismatch: bool = False) -> Run:
    """BASE for HEAD: the run folder itself, or in a folder of baselines the one whose environment matches
    HEAD's. None matching: :class:`NotComparable` with the nearest one's differences (or, with
    ``allow_mismatch``, that nearest one)."""
    path = Path(path)
    candidates = baselines_in(path)
    if not candidates:
        if path.is_dir() and not (path / "run.json").is_file():
            raise UserInputError(
                "neither a run folder (no run.json) nor a folder of baselines (no subfolder with a run.json)",
                source=str(path),
            )
        return Run.open(path, role="base")
    runs = [Run.open(p, role="base") for p in candidates]
    diffs = [environment_differences(r, head) for r in runs]
    nearest = min(range(len(runs)), key=lambda i: len(diffs[i]))
    if not diffs[nearest] or allow_mismatch:
        return runs[nearest]
    raise NotComparable(
        f"none of the {len(runs)} baselines matches this machine; nearest {candidates[nearest].name}: "
        f"{'; '.join(diffs[nearest])} (pass --allow-mismatch to compare with it anyway)",
        source=str(path),
        differences=[f"nearest baseline {candidates[nearest].name}: {d}" for d in diffs[nearest]],
    )


def record_baseline(run_dir: str | Path, folder: str | Path) -> tuple[Path, list[Path]]:
    """Copy a run's run.json and records.jsonl into ``folder/<baseline_key>/``, replacing any baseline there
    that is comparable with it (the same kind of machine re-recorded). Returns (new folder, replaced).

    A baseline must have measured what it will judge: a run with a failed, interrupted or cut-short job is
    refused (the gate could not compare that job, so it would pass unseen)."""
    run, folder = Run.open(run_dir), Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UserInputError("--into: exists and is not a folder (a folder of baselines)", source=str(folder))
    if (folder / "run.json").is_file():
        raise UserInputError(
            "holds a single run; move it into a subfolder (a folder of baselines has one per machine)",
            source=str(folder),
        )
    bad = [f"{r.label} ({r.status})" for r in run.records.values() if not r.ok]
    if run.torn:
        bad += [f"{j} (record cut short)" for j in run.torn]
    if bad:
        raise UserInputError(
            f"not every job is ok: {', '.join(bad[:3])}{' …' if len(bad) > 3 else ''}; a baseline must have "
            "measured every job it will judge (fix them, or run the suite again)",
            source=str(run.path),
        )
    replaced = [p for p in baselines_in(folder) if not environment_differences(Run.open(p, role="base"), run)]
    for p in replaced:
        shutil.rmtree(p)
    dest = folder / baseline_key(run)
    if dest.exists():  # the same name for another environment (e.g. another Python): keep both
        dest = folder / f"{dest.name}-{run.run_id}"
        shutil.rmtree(dest, ignore_errors=True)
    try:
        dest.mkdir(parents=True)
        for name in ("run.json", "records.jsonl"):
            shutil.copy2(run.path / name, dest / name)
    except OSError as exc:
        raise UserInputError(f"cannot write the baseline ({exc.strerror or exc})", source=str(dest)) from None
    return dest, replaced
