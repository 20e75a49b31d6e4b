"""The artifact cache: canonical keys, removal of only what it wrote, a size budget with LRU eviction."""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.backends import keys
from harness.backends.cache import META, ROOT_MANIFEST, ArtifactCache, budget_bytes
from harness.backends.export import CapturedCall, call_signature, flatten
from harness.backends.keys import canonical, config_contribution, module_fingerprint
from harness.cli import main
from harness.core.errors import HarnessError, UserInputError
from tests.helpers import ROOT

MB = 10**6


def _build(cache: ArtifactCache, name: str, size: int = MB, backend: str = "onnxruntime", release=True):
    """A committed entry holding ``size`` bytes, released (not in use) unless told otherwise."""
    e = cache.entry(backend, {"component": name})
    assert not e.hit
    e.file("model.onnx").write_bytes(b"\0" * size)
    notes = e.commit(exporter_used="legacy")
    if release:
        e.release()
    return e, notes


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


def _snapshot(paths: list[Path]) -> dict[str, bytes | None]:
    """Every file under the given paths with its bytes (folders as None): what must survive unchanged."""
    out: dict[str, bytes | None] = {}
    for p in paths:
        for q in [p, *sorted(p.rglob("*"))] if p.is_dir() else [p]:
            out[str(q)] = None if q.is_dir() else q.read_bytes()
    return out


# ------------------------------------------------------------------------------------ #23 item 6
def test_user_files_survive_every_cache_command_and_a_build(tmp_path, capsys):
    """#23 item 6: a user file and folder at the cache root, inside a backend folder and inside an entry
    survive ls, path, gc, clear --backend, clear and a build that evicts; clear refuses and names them."""
    root = tmp_path / "cache"
    cache = ArtifactCache(root)
    a, _ = _build(cache, "denoiser")
    b, _ = _build(cache, "vae_decoder")
    _build(cache, "engine", backend="tensorrt")
    assert (root / ROOT_MANIFEST).is_file()
    (root / "notes.txt").write_text("mine")
    (root / "mydata").mkdir()
    (root / "mydata" / "x.bin").write_bytes(b"\1\2")
    (root / "onnxruntime" / "mine.txt").write_text("mine too")
    (root / "onnxruntime" / "keep").mkdir()
    (b.path / "readme.txt").write_text("written into an entry by hand")
    user = [
        root / "notes.txt",
        root / "mydata",
        root / "onnxruntime" / "mine.txt",
        root / "onnxruntime" / "keep",
        b.path / "readme.txt",
    ]
    before = _snapshot(user)
    d = ["--dir", str(root)]

    assert main(["cache", "ls", *d]) == 0
    out = capsys.readouterr().out
    assert "3 entries" in out
    assert out.splitlines()[-1] == (
        "not written by the harness, left alone: mydata/x.bin, notes.txt, "
        f"onnxruntime/{b.key}/readme.txt, onnxruntime/keep/, onnxruntime/mine.txt"
    )
    assert main(["cache", "path", *d]) == 0 and capsys.readouterr().out.strip() == str(root)

    assert main(["cache", "clear", *d]) == 2
    line = capsys.readouterr().err.strip()
    assert line == (
        f"error: {root}: holds 5 item(s) the harness did not write (mydata/x.bin, notes.txt, "
        f"onnxruntime/{b.key}/readme.txt, onnxruntime/keep/, onnxruntime/mine.txt); nothing removed (move "
        f"them out of {root}, or point --dir at the harness's own cache folder)"
    )
    assert main(["cache", "clear", "--backend", "onnxruntime", *d]) == 2
    assert "nothing removed" in capsys.readouterr().err
    assert a.path.is_dir() and b.path.is_dir()

    # tensorrt's folder holds only the harness's entries: cleared, the root's user files untouched
    assert main(["cache", "clear", "--backend", "tensorrt", *d]) == 0
    assert capsys.readouterr().out.startswith("removed 1 entries")

    # gc down to nothing: the entry that holds a user file is kept, the other one goes
    assert main(["cache", "gc", "--max-gb", "0", *d]) == 1
    out = capsys.readouterr().out
    assert out.startswith("evicted 1 entries (1.00 MB); 1 entries")
    assert "still over the budget: the entries left are 1 holding files the harness did not write" in out
    assert not a.path.exists() and b.path.is_dir()

    # a build that goes over the budget evicts only the harness's entries, never the one it wrote
    small = ArtifactCache(root, max_gb=0)
    c, notes = _build(small, "text_encoder", release=False)
    assert c.path.is_dir() and notes == [
        "cache: 2.00 MB is over its budget of 0 B (HARNESS_CACHE_MAX_GB): the entries left are in use or hold "
        "files the harness did not write"
    ]
    assert _snapshot(user) == before


def test_clear_refuses_a_folder_that_is_not_the_cache(tmp_path, capsys):
    """#23 item 6: `cache clear --dir` pointed at a project folder removes nothing and says why (exit 2)."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.py").write_text("print('hi')")
    (tmp_path / "README.md").write_text("# project")
    before = _snapshot([tmp_path])
    assert main(["cache", "clear", "--dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {tmp_path}: holds 2 item(s) the harness did not write (README.md, src/main.py); nothing "
        f"removed (move them out of {tmp_path}, or point --dir at the harness's own cache folder)"
    )
    assert _snapshot([tmp_path]) == before


def test_an_entry_never_takes_over_a_folder_it_did_not_write(tmp_path):
    """#23 item 6: the entry's own path, when a user folder is there, is an error; the folder survives.
    A build that died half-way (its manifest says building) is the harness's and is redone."""
    cache = ArtifactCache(tmp_path)
    parts = {"component": "denoiser"}
    path = tmp_path / "onnxruntime" / cache.key_of(parts)
    path.mkdir(parents=True)
    (path / "model.onnx").write_bytes(b"user's")
    with pytest.raises(
        HarnessError,
        match=r"holds files the harness did not write, where its cache entry goes; move them away",
    ):
        cache.entry("onnxruntime", parts)
    assert (path / "model.onnx").read_bytes() == b"user's"

    other = {"component": "vae_decoder"}
    script = f"""
        from harness.backends.cache import ArtifactCache
        e = ArtifactCache({str(tmp_path)!r}).entry("onnxruntime", {other!r})
        e.file("model.onnx").write_bytes(b"half")
    """  # the process ends without commit: a dead build
    subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=_env(), check=True)
    again = cache.entry("onnxruntime", other)
    assert not again.hit and not again.file("model.onnx").exists()


# ------------------------------------------------------------------------------------ #24 item 1: keys
KEY_SCRIPT = """
import json, torch
torch.set_num_threads(1)
from diffusers import UNet2DConditionModel
from harness.backends.cache import ArtifactCache
from harness.backends.keys import module_fingerprint
cfg = json.load(open("model_cards/configs/tiny-sd/unet/config.json"))
for k in ("attention_type", "dropout", "conv_in_kernel", "upcast_attention", "use_linear_projection"):
    cfg.pop(k)  # left to diffusers' defaults, as in a hub config written by an older diffusers
torch.manual_seed(0)
unet = UNet2DConditionModel.from_config(cfg)
key = ArtifactCache.key_of({"module": module_fingerprint(unet), "shapes": [[2, 4, 16, 16]], "sets": {"a", "b", "c"}})
print(json.dumps({"defaults": list(unet.config["_use_default_values"]), "key": key}))
"""


@pytest.mark.slow
def test_the_key_is_the_same_under_different_hash_seeds():
    """#24 item 1: a diffusers model built from a config that leaves keys to their defaults gets the same key
    in processes with different hash seeds (diffusers' `_use_default_values` order follows the seed)."""
    runs = []
    for seed in ("1", "2"):
        done = subprocess.run(
            [sys.executable, "-c", KEY_SCRIPT],
            env=_env(PYTHONHASHSEED=seed, OMP_NUM_THREADS="1"),
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    assert (
        runs[0]["defaults"] != runs[1]["defaults"]
    )  # the hazard is there: the bookkeeping list's order differs
    assert sorted(runs[0]["defaults"]) == sorted(runs[1]["defaults"])
    assert runs[0]["key"] == runs[1]["key"]


def test_canonical_serialisation():
    """#24 item 1: order-free collections, tuples as lists, floats, paths, numpy, torch; nothing else."""

    @dataclass
    class D:
        x: tuple
        y: float

    assert canonical({"b": {3, 1, 2}, "a": (1, 2.5)}) == {"b": {"__set__": [1, 2, 3]}, "a": [1, 2.5]}
    assert canonical(frozenset({"z", "a"})) == canonical({"a", "z"})
    assert canonical([1, 2]) == canonical((1, 2))
    assert canonical(0.1) == 0.1 and canonical(float("nan")) == {"__float__": "nan"}
    assert canonical(-math.inf) == {"__float__": "-inf"}
    assert canonical(Path("a") / "b") == {"__path__": "a/b"}
    assert canonical(np.float32(0.5)) == 0.5 and canonical(np.arange(3)) == [0, 1, 2]
    assert canonical(torch.float16) == "torch.float16" and canonical(torch.device("cpu")) == "cpu"
    assert canonical(D((1,), 2.0)) == {"x": [1], "y": 2.0}
    with pytest.raises(TypeError, match=r"key\.cb: a builtins\.function has no canonical form"):
        canonical({"cb": lambda: None})
    with pytest.raises(TypeError, match=r"two keys serialise as '1'"):
        canonical({1: "a", "1": "b"})
    k = ArtifactCache.key_of
    assert k({"a": 1, "b": {"x", "y"}}) == k({"b": {"y", "x"}, "a": 1})
    assert (
        k({"a": 1}) != k({"a": 1.0}) and k({"a": 1}) != k({"a": 2}) and k({"s": (1, 2)}) != k({"s": (2, 1)})
    )


class _Configured(torch.nn.Module):
    def __init__(self, config: dict, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.config = config
        self.lin = torch.nn.Linear(3, 2)


def test_what_a_config_contributes():
    """#24 item 1: bookkeeping keys (default list, source path, revision, writer versions) do not change the
    fingerprint; a definitional value does, even with the same weights."""
    base = {"norm_eps": 1e-5, "blocks": [32, 64], "_class_name": "X", "_diffusers_version": "0.6.0"}
    a = _Configured({**base, "_use_default_values": ["p", "q"], "_name_or_path": "/home/me/unet"})
    b = _Configured(
        {**base, "_use_default_values": ["q", "p"], "_commit_hash": "abc", "_diffusers_version": "0.42"}
    )
    assert config_contribution(a) == {"norm_eps": 1e-5, "blocks": [32, 64]}
    assert module_fingerprint(a) == module_fingerprint(b)
    assert module_fingerprint(_Configured({**base, "norm_eps": 1e-6})) != module_fingerprint(a)
    assert module_fingerprint(_Configured({**base, "blocks": [64, 32]})) != module_fingerprint(a)
    assert module_fingerprint(_Configured(base, seed=1)) != module_fingerprint(a)


def test_fingerprint_reads_every_dtype_and_does_not_depend_on_threads(monkeypatch):
    """#24 item 1: bf16 and other dtypes numpy lacks are hashed by their bytes; the thread count that hashes
    the tensors does not change the result; one changed value does."""
    m = torch.nn.Module()
    m.w = torch.nn.Parameter(torch.randn(5, 3).to(torch.bfloat16))
    m.register_buffer("steps", torch.arange(4))
    m.register_buffer("mask", torch.tensor([True, False]), persistent=False)
    m.register_buffer("s", torch.tensor(2.5, dtype=torch.float16))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = module_fingerprint(m)
        torch.set_num_threads(2)
        assert module_fingerprint(m) == one
    finally:
        torch.set_num_threads(threads)
    m.mask[1] = True
    assert module_fingerprint(m) != one
    changed = module_fingerprint(m)
    with monkeypatch.context() as patch:  # without blake3: sha256, never the same key as blake3's
        patch.setattr(keys, "tensor_hash", lambda: ("sha256", hashlib.sha256))
        assert module_fingerprint(m) == module_fingerprint(m) != changed


def test_the_call_is_part_of_the_key():
    """#24 item 1: a constant argument the export bakes in (a flag) is keyed; a new Generator object is not."""

    def signature(**kwargs) -> dict:
        tensors: list = []
        spec = flatten(([torch.ones(1, 4)], kwargs), tensors, numbers_as_tensors=False)
        return call_signature(CapturedCall("text_encoder", "forward", spec, tensors, "tuple", tuple, []))

    assert signature(output_hidden_states=False) == signature(output_hidden_states=False)
    assert ArtifactCache.key_of({"call": signature(output_hidden_states=True)}) != ArtifactCache.key_of(
        {"call": signature(output_hidden_states=False)}
    )
    assert signature(g=torch.Generator()) == signature(g=torch.Generator())


# ------------------------------------------------------------------------------------ #24 item 1: budget
def test_lru_eviction_keeps_the_budget_and_the_entry_in_use(tmp_path):
    """#24 item 1: after a new entry the least recently used ones go until the cache fits; a hit counts as a
    use; the new entry (in use) is never evicted."""
    cache = ArtifactCache(tmp_path, max_gb=2.5 * MB / 1e9)
    a, _ = _build(cache, "a")
    b, _ = _build(cache, "b")
    time.sleep(0.01)
    hit = cache.entry("onnxruntime", {"component": "a"})  # a used again: b is now the oldest
    assert hit.hit
    hit.release()
    used = json.loads((a.path / META).read_text())["last_used"]
    assert used > json.loads((b.path / META).read_text())["last_used"]
    c, notes = _build(cache, "c", release=False)
    assert notes == [
        "cache: evicted 1 least recently used entry (1.00 MB) to stay within 2.50 MB (HARNESS_CACHE_MAX_GB)"
    ]
    assert a.path.is_dir() and not b.path.exists() and c.path.is_dir()
    tiny = ArtifactCache(tmp_path, max_gb=0)
    assert tiny.gc().evicted[0].key == a.key  # c is still in use by this process
    assert c.path.is_dir()
    c.release()
    assert [e.key for e in tiny.gc().evicted] == [c.key] and tiny.entries() == []


HOLD_SCRIPT = """
import sys
from harness.backends.cache import ArtifactCache
e = ArtifactCache(sys.argv[1]).entry("onnxruntime", {"component": "held"})
if not e.hit:
    e.file("model.onnx").write_bytes(b"x" * 1000)
    e.commit()
print("holding", flush=True)
sys.stdin.readline()
"""


def test_gc_never_evicts_an_entry_another_process_uses(tmp_path, capsys):
    """#24 item 1: an entry held by a running harness process is kept (gc exits 1 and says so) and goes
    once that process has ended."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_SCRIPT, str(tmp_path)],
        env=_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "holding"
        assert main(["cache", "gc", "--max-gb", "0", "--dir", str(tmp_path)]) == 1
        out = capsys.readouterr().out
        assert out.startswith("evicted 0 entries (0 B); 1 entries, 1.00 kB")
        assert "the entries left are 1 in use by a running harness process" in out
    finally:
        proc.communicate("\n", timeout=60)
    assert main(["cache", "gc", "--max-gb", "0", "--dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("evicted 1 entries (1.00 kB); 0 entries, 0 B")


def test_a_second_process_waits_for_a_build_and_hits(tmp_path):
    """#24 item 1: a process that wants an entry another one is building waits for it and gets the hit
    (it neither rebuilds nor reads a half-written artifact)."""
    cache = ArtifactCache(tmp_path)
    e = cache.entry("onnxruntime", {"component": "held"})
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_SCRIPT.replace('print("holding"', 'print("hit", e.hit'), str(tmp_path)],
        env=_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)
    assert proc.poll() is None  # waiting for the build lock
    e.file("model.onnx").write_bytes(b"x" * 1000)
    e.commit()
    out, _ = proc.communicate("\n", timeout=60)
    assert out.strip() == "hit True"


def test_ls_shows_size_and_last_use(tmp_path, capsys):
    """#24 item 1: one line per entry with its size and when it was last used, most recent first."""
    cache = ArtifactCache(tmp_path)
    e, _ = _build(cache, "denoiser", size=3 * MB)
    assert main(["cache", "ls", "--dir", str(tmp_path), "--max-gb", "10"]) == 0
    lines = capsys.readouterr().out.splitlines()
    when = time.strftime(
        "%Y-%m-%d %H:%M", time.localtime(json.loads((e.path / META).read_text())["last_used"])
    )
    assert lines[1].split() == ["onnxruntime", e.key, "denoiser", "3.00", "MB", *when.split()]
    assert lines[2] == f"1 entries, 3.00 MB in {tmp_path} (budget 10.00 GB, --max-gb)"


def test_budget_settings_are_checked(tmp_path, monkeypatch, capsys, write_yaml):
    """#24 item 1: a bad budget is one line and exit 2, before any job runs."""
    assert budget_bytes("inf") == math.inf and budget_bytes(1.5) == 1.5e9
    monkeypatch.setenv("HARNESS_CACHE_MAX_GB", "lots")
    with pytest.raises(UserInputError, match=r"HARNESS_CACHE_MAX_GB: 'lots' is not a size in GB"):
        budget_bytes()
    suite = write_yaml(
        "s.yaml", {"name": "t", "models": [{"card": str(ROOT / "model_cards" / "tiny-sd.yaml")}]}
    )
    assert main(["run", str(suite), "--out", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: HARNESS_CACHE_MAX_GB: 'lots' is not a size in GB (a number ≥ 0, or inf for no limit)"
    )
    assert not (tmp_path / "r").exists()
    monkeypatch.delenv("HARNESS_CACHE_MAX_GB")
    assert main(["cache", "gc", "--max-gb", "-1", "--dir", str(tmp_path)]) == 2
    assert (
        capsys.readouterr().err.strip()
        == "error: --max-gb: '-1' is not a size in GB (a number ≥ 0, or inf for no limit)"
    )
    assert main(["cache", "gc", "--backend", "onnxruntime", "--dir", str(tmp_path)]) == 2
    assert "--backend: applies to ls and clear, not gc" in capsys.readouterr().err


def test_compile_caches_are_an_entry_only_where_torch_was_pointed(tmp_path, monkeypatch):
    """#23 item 6: Inductor's and Triton's folders are the harness's only when it pointed torch there (and
    wrote the entry's manifest); a folder from elsewhere is named, never removed."""
    cache = ArtifactCache(tmp_path)
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "/elsewhere/inductor")
    assert cache.compile_entry() is None
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "compile" / "torch" / "inductor"))
    entry = cache.compile_entry()
    (entry.path / "inductor" / "fxgraph").mkdir(parents=True)
    (entry.path / "inductor" / "fxgraph" / "g.py").write_text("# kernel")
    entry.commit()
    (tmp_path / "compile" / "inductor").mkdir()  # as an older harness left it: not provably ours
    entries, foreign = cache.scan()
    assert [(e.backend, e.key) for e in entries] == [("compile", "torch")] and entries[0].size_bytes > 0
    assert foreign == [tmp_path / "compile" / "inductor"]
    entry.release()
    with pytest.raises(UserInputError, match=r"compile/inductor/\); nothing removed"):
        cache.clear("compile")
    (tmp_path / "compile" / "inductor").rmdir()
    assert cache.clear("compile") == (1, 0) and not (tmp_path / "compile" / "torch").exists()
