from __future__ import annotations

import pytest

from harness.config import CallArgs, ModelEntry, load_card, load_suite, sniff_kind
from harness.core.errors import UserInputError

CARD = {
    "name": "c",
    "modality": "image",
    "task": "text-to-image",
    "pipeline": "StableDiffusionPipeline",
    "source": {"kind": "hub", "repo_id": "org/model"},
    "license": "mit",
}


def test_card_loads(write_yaml):
    card = load_card(write_yaml("c.yaml", CARD))
    assert card.name == "c" and card.source.kind == "hub" and card.source.revision == "main"
    assert not card.random_weights


def test_unknown_key_names_file_field_and_suggests(write_yaml):
    path = write_yaml("c.yaml", {**CARD, "modalty": "image"})
    with pytest.raises(UserInputError, match=r"c\.yaml: modalty: unknown key \(did you mean 'modality'"):
        load_card(path)


def test_nested_unknown_key(write_yaml):
    path = write_yaml("c.yaml", {**CARD, "defaults": {"stpes": 3}})
    with pytest.raises(UserInputError, match=r"defaults\.stpes: unknown key \(did you mean 'steps'"):
        load_card(path)


def test_wrong_literal_lists_allowed(write_yaml):
    path = write_yaml("c.yaml", {**CARD, "modality": "3d"})
    with pytest.raises(
        UserInputError, match=r"modality: '3d' is not allowed \(allowed: 'image', 'video' or 'audio'\)"
    ):
        load_card(path)


def test_wrong_type(write_yaml):
    path = write_yaml("c.yaml", {**CARD, "defaults": {"steps": "many"}})
    with pytest.raises(UserInputError, match=r"defaults\.steps: Input should be a valid integer"):
        load_card(path)


def test_negative_count(write_yaml):
    path = write_yaml("c.yaml", {**CARD, "defaults": {"steps": -2}})
    with pytest.raises(UserInputError, match=r"defaults\.steps: Input should be greater than or equal to 1"):
        load_card(path)


def test_bad_source_kind(write_yaml):
    path = write_yaml("c.yaml", {**CARD, "source": {"kind": "ftp", "path": "x"}})
    with pytest.raises(UserInputError, match=r"source: .*'hub', 'local', 'config'"):
        load_card(path)


def test_local_source_folder_must_exist(write_yaml):
    path = write_yaml("c.yaml", {**CARD, "source": {"kind": "local", "path": "nowhere"}})
    with pytest.raises(UserInputError, match=r"source\.path: folder not found: nowhere"):
        load_card(path)


def test_missing_file_and_bad_yaml(tmp_path, write_yaml):
    with pytest.raises(UserInputError, match=r"nope\.yaml: file not found"):
        load_card(tmp_path / "nope.yaml")
    with pytest.raises(UserInputError, match=r"bad\.yaml: line \d+: invalid YAML"):
        load_card(write_yaml("bad.yaml", "name: [unclosed\n"))
    with pytest.raises(
        UserInputError, match=r"list\.yaml: expected a mapping of keys at the top level, got list"
    ):
        load_card(write_yaml("list.yaml", "- a\n- b\n"))


def test_resolution_shorthand_and_merge():
    a = CallArgs(steps=5, resolution=64, extra={"x": 1})
    assert (a.height, a.width) == (64, 64)
    b = a.merged(CallArgs(steps=2, extra={"y": 2}))
    assert b.steps == 2 and b.height == 64 and b.extra == {"x": 1, "y": 2}
    with pytest.raises(ValueError, match="either resolution or height/width"):
        CallArgs(resolution=64, height=32)


def test_sweep_expands_variants():
    entry = ModelEntry(card="x", sweep={"batch_size": [1, 4], "resolution": [512, 768], "dtype": ["fp16"]})
    names = [v.name for v in entry.variants]
    assert names == [
        "batch_size=1,resolution=512,dtype=fp16",
        "batch_size=1,resolution=768,dtype=fp16",
        "batch_size=4,resolution=512,dtype=fp16",
        "batch_size=4,resolution=768,dtype=fp16",
    ]
    v = entry.variants[3]
    assert v.batch_size == 4 and v.dtype == "fp16" and v.overrides.height == 768
    assert entry.baseline == names[0]


def test_sweep_errors():
    with pytest.raises(ValueError, match=r"sweep: unknown key 'stesp'.*did you mean 'steps'"):
        ModelEntry(card="x", sweep={"stesp": [1]})
    with pytest.raises(ValueError, match="sweep: 'steps' has no values"):
        ModelEntry(card="x", sweep={"steps": []})


def test_suite_errors(write_yaml):
    base = {"name": "s", "models": [{"card": "tiny-sd"}], "workload": {"prompts": ["p"]}}
    with pytest.raises(UserInputError, match=r"models: List should have at least 1 item"):
        load_suite(write_yaml("s.yaml", {**base, "models": []}))
    with pytest.raises(UserInputError, match=r"max_iterations \(2\) is below min_iterations \(5\)"):
        load_suite(write_yaml("s.yaml", {**base, "measurement": {"min_iterations": 5, "max_iterations": 2}}))
    with pytest.raises(UserInputError, match=r"baseline 'zz' is not a variant"):
        load_suite(write_yaml("s.yaml", {**base, "models": [{"card": "x", "baseline": "zz"}]}))
    with pytest.raises(UserInputError, match=r"variant names repeat: a"):
        load_suite(
            write_yaml(
                "s.yaml", {**base, "models": [{"card": "x", "variants": [{"name": "a"}, {"name": "a"}]}]}
            )
        )
    with pytest.raises(UserInputError, match=r"objectives\.latency: 'up' is not allowed"):
        load_suite(write_yaml("s.yaml", {**base, "objectives": {"latency": "up"}}))
    with pytest.raises(
        UserInputError, match=r"workload\.batch_size: Input should be greater than or equal to 1"
    ):
        load_suite(write_yaml("s.yaml", {**base, "workload": {"prompts": ["p"], "batch_size": -1}}))


def test_sniff_kind(write_yaml):
    assert sniff_kind(write_yaml("c.yaml", CARD)) == "card"
    assert sniff_kind(write_yaml("s.yaml", {"name": "s", "models": []})) == "suite"
    with pytest.raises(UserInputError, match="neither a model card"):
        sniff_kind(write_yaml("x.yaml", {"foo": 1}))
