"""Every model card and suite kept in the repository loads, and every call argument maps onto its pipeline.

No network: the checks read YAML and the installed diffusers' classes and signatures; nothing is downloaded
(tests/conftest.py sets HF_HUB_OFFLINE=1).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

from harness.config import CallArgs, ModelCard, load_card, load_suite, sniff_kind
from harness.config.plan import check_suite
from harness.loaders.diffusers_pipeline import METADATA_ONLY, PARAMETER_NAMES
from tests.helpers import ROOT

CARD_FILES = sorted((ROOT / "model_cards").glob("*.y*ml"))  # top level only: not the configs/ subfolder
SUITE_FILES = sorted((ROOT / "suites").glob("*.y*ml"))


def _ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def _diffusers_class(card: ModelCard) -> Any | None:
    """The diffusers class a card names, or None for a pipeline of the user's own (``module:Class``)."""
    if ":" in card.pipeline:
        return None
    diffusers = pytest.importorskip("diffusers")
    cls = getattr(diffusers, card.pipeline, None)
    assert cls is not None, f"{card.name}: diffusers {diffusers.__version__} has no '{card.pipeline}'"
    assert hasattr(cls, "from_pretrained"), f"{card.name}: '{card.pipeline}' is not a pipeline class"
    return cls


def _call_parameters(cls: Any) -> set[str]:
    return {p for p in inspect.signature(cls.__call__).parameters if p not in ("self", "kwargs")}


def _unmapped(call: CallArgs, params: set[str]) -> list[str]:
    """Every argument of ``call`` that the pipeline could not take (problems, as readable lines)."""
    problems = []
    given = call.model_dump(exclude_none=True, exclude={"scheduler", "extra", "resolution"})
    for ours in given:
        names = [n for n in PARAMETER_NAMES[ours] if n in params]
        if not names and ours not in METADATA_ONLY:
            problems.append(f"'{ours}' maps to none of {PARAMETER_NAMES[ours]}")
    for key in call.extra:
        if key not in params:
            problems.append(f"extra '{key}' is not a parameter of __call__")
    if call.scheduler is not None:
        import diffusers

        sched = getattr(diffusers, call.scheduler.name, None)
        if sched is None or not hasattr(sched, "from_config"):
            problems.append(f"scheduler '{call.scheduler.name}' is not a diffusers scheduler")
        else:
            init = inspect.signature(sched.__init__).parameters
            problems += [
                f"scheduler {call.scheduler.name} takes no config key '{k}'"
                for k in call.scheduler.config
                if k not in init
            ]
    return problems


def test_files_found():
    assert len(CARD_FILES) >= 10 and len(SUITE_FILES) >= 5
    assert all("configs" not in p.relative_to(ROOT).parts for p in CARD_FILES)


@pytest.mark.parametrize("path", CARD_FILES, ids=_ids(CARD_FILES))
def test_card_loads(path: Path):
    assert sniff_kind(path) == "card"
    card = load_card(path)
    if card.source.kind == "hub":
        assert card.source.revision, "hub cards pin a revision"
        assert card.homepage == f"https://huggingface.co/{card.source.repo_id}"
        assert card.license and card.notes.strip()


@pytest.mark.parametrize("path", CARD_FILES, ids=_ids(CARD_FILES))
def test_card_defaults_map_onto_pipeline(path: Path):
    card = load_card(path)
    cls = _diffusers_class(card)
    if cls is None:
        pytest.skip("a pipeline of the user's own")
    problems = _unmapped(card.defaults, _call_parameters(cls))
    assert not problems, f"{card.name} ({card.pipeline}): " + "; ".join(problems)


@pytest.mark.parametrize("path", SUITE_FILES, ids=_ids(SUITE_FILES))
def test_suite_loads_and_checks(path: Path):
    assert sniff_kind(path) == "suite"
    suite = load_suite(path)
    cards = check_suite(suite, check_files=False)  # prompts files may be user data that is not here
    assert set(cards) == {m.card for m in suite.models}


@pytest.mark.parametrize("path", SUITE_FILES, ids=_ids(SUITE_FILES))
def test_suite_variants_map_onto_pipelines(path: Path):
    """Card defaults merged with each variant's overrides: what a job would pass to the pipeline."""
    suite = load_suite(path)
    cards = check_suite(suite, check_files=False)
    for entry in suite.models:
        card = cards[entry.card]
        cls = _diffusers_class(card)
        if cls is None:
            continue
        params = _call_parameters(cls)
        for variant in entry.variants:
            problems = _unmapped(card.defaults.merged(variant.overrides), params)
            assert not problems, f"{suite.name}: {card.name}/{variant.name}: " + "; ".join(problems)


def test_mlperf_suite_needs_user_captions(monkeypatch, tmp_path):
    """The MLPerf suite reads captions and FID statistics the user supplies, through an environment variable;
    either missing is bad input before any job."""
    path = ROOT / "suites" / "mlperf-sdxl.yaml"
    if not path.exists():
        pytest.skip("no MLPerf suite")
    suite = load_suite(path)
    assert suite.workload.prompts_file and "${HARNESS_DATA}" in suite.workload.prompts_file
    assert {v.batch_size for v in suite.models[0].variants} == {1, 8}
    from harness.core.errors import UserInputError

    monkeypatch.setenv("HARNESS_DATA", "/nonexistent-harness-data")
    with pytest.raises(
        UserInputError, match=r"reference_path: /nonexistent-harness-data/coco2014/val2014\.npz"
    ):
        check_suite(suite, check_files=True)
    (tmp_path / "coco2014").mkdir()
    (tmp_path / "coco2014" / "val2014.npz").write_bytes(b"")
    monkeypatch.setenv("HARNESS_DATA", str(tmp_path))
    with pytest.raises(UserInputError, match="prompts file not found"):
        check_suite(load_suite(path), check_files=True)
