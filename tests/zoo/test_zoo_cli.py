"""`harness zoo list` and `harness zoo train` argument handling (no training here)."""

from __future__ import annotations

from harness.cli import main


def test_list_names_every_recipe(capsys):
    assert main(["zoo", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("digits-extractor", "digits-small", "digits-large"):
        assert name in out
    assert "digits_heldout_stats.npz" in out


def test_unknown_model_exits_2_with_did_you_mean(capsys):
    assert main(["zoo", "train", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown zoo model 'nope'" in err[0] and "available: digits-extractor" in err[0]
    assert main(["zoo", "train", "digits-smal"]) == 2
    assert "did you mean 'digits-small'?" in capsys.readouterr().err


def test_bad_steps_exit_2(capsys):
    assert main(["zoo", "train", "digits-small", "--steps", "0"]) == 2
    assert "--steps" in capsys.readouterr().err
