"""Cache keys: a canonical serialisation, and a module's fingerprint (class, library, config, weights).

The same inputs give the same key in any process: no hash seed, address or machine path enters it. What a
key covers is documented with :class:`harness.backends.cache.ArtifactCache`.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

KEY_VERSION = 2  # bumped when what a key covers changes: older entries are then never hits

# Config keys that do not define the module, and why each is left out of the key.
NOT_DEFINITIONAL = {
    "_use_default_values": "diffusers' list of keys it filled with defaults: the values themselves are in the "
    "config, and the list's order follows the process's hash seed",
    "_name_or_path": "where the config was read from (a path on this machine, a hub id): the weights are hashed",
    "_commit_hash": "the hub revision that was read: the weights are hashed",
    "_diffusers_version": "the diffusers version that wrote the config file: the installed one is keyed",
    "transformers_version": "the transformers version that wrote the config file: the installed one is keyed",
    "_class_name": "the class is keyed by its module and name",
}


def canonical(obj: Any, where: str = "key") -> Any:
    """``obj`` as a JSON value that is equal for equal inputs in any process.

    Mappings get string keys (sorted when dumped); sets and frozensets become sorted lists (order-free);
    tuples and lists are lists (a config read from JSON has lists where one built in Python has tuples);
    floats keep their shortest round-trip repr (non-finite ones are tagged, JSON has none); paths are
    POSIX strings; enums their value; numpy values Python ones; torch dtypes and devices their name;
    dataclasses and pydantic models their fields. Anything else raises ``TypeError``: a ``str()`` of an
    arbitrary object can carry an address or a hash-seed-dependent order.
    """
    if obj is None or isinstance(obj, (bool, str, int)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else {"__float__": repr(obj)}
    if isinstance(obj, enum.Enum):
        return canonical(obj.value, where)
    if isinstance(obj, PurePath):
        return {"__path__": obj.as_posix()}
    if isinstance(obj, Mapping):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            name = k if isinstance(k, str) else _dump(canonical(k, where))
            if name in out:
                raise TypeError(f"{where}: two keys serialise as {name!r}")
            out[name] = canonical(v, f"{where}.{name}")
        return out
    if isinstance(obj, (set, frozenset)):
        return {"__set__": sorted((canonical(x, where) for x in obj), key=_dump)}
    if isinstance(obj, (list, tuple)):
        return [canonical(x, f"{where}[{i}]") for i, x in enumerate(obj)]
    kind = type(obj)
    if kind.__module__ == "numpy" or kind.__module__.startswith("numpy."):
        return canonical(obj.tolist(), where)  # numpy scalars and arrays
    if kind.__module__ == "torch" and kind.__name__ in ("dtype", "device"):
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return canonical({f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}, where)
    if hasattr(obj, "model_dump") and callable(obj.model_dump):
        return canonical(obj.model_dump(mode="json"), where)
    raise TypeError(f"{where}: a {kind.__module__}.{kind.__qualname__} has no canonical form for a cache key")


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def config_contribution(module: Any) -> dict[str, Any]:
    """What a module's config contributes to its key: the config without :data:`NOT_DEFINITIONAL` keys (at
    any depth), plus the attention implementation transformers keeps outside ``to_dict()``."""
    config = getattr(module, "config", None)
    if config is None:
        return {}
    if isinstance(config, Mapping):  # diffusers' FrozenDict
        raw: Any = dict(config)
    elif hasattr(config, "to_dict"):  # transformers' PretrainedConfig
        raw = config.to_dict()
    else:  # another kind of config object: its attributes (canonical() refuses what it cannot key)
        raw = {"__type__": f"{type(config).__module__}.{type(config).__qualname__}", **vars(config)}

    def strip(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: strip(v) for k, v in value.items() if k not in NOT_DEFINITIONAL}
        if isinstance(value, (list, tuple)):
            return [strip(v) for v in value]
        return value

    out = strip(raw)
    attn = getattr(config, "_attn_implementation", None)
    if isinstance(attn, str):  # sdpa, eager, flash...: a different graph
        out["__attn_implementation__"] = attn
    return out


def _library_version(module: Any) -> str | None:
    """The installed version of the package that defines the module's class (its code is what gets traced)."""
    from importlib import metadata

    top = type(module).__module__.split(".")[0]
    try:
        return f"{top} {metadata.version(top)}"
    except (metadata.PackageNotFoundError, ValueError):
        return None


def tensor_hash() -> tuple[str, Any]:
    """(name, constructor) of the hash for weights: BLAKE3 where installed (the onnx extra: about 4× sha256's
    speed here, 1.0 s instead of 3.9 s for SD 1.5's UNet), else sha256. Both are cryptographic; the name is
    part of the fingerprint, so the two never share a key."""
    try:
        import blake3
    except ImportError:
        return "sha256", hashlib.sha256
    return "blake3", blake3.blake3


def module_fingerprint(module: Any) -> str:
    """A hash of what defines a module: its class, its library's version, its config
    (:func:`config_contribution`), its attention processors (diffusers), and every parameter and buffer
    (name, dtype, shape, raw bytes).

    Tensors are hashed one by one (:func:`tensor_hash` of name, dtype, shape and bytes, read in place without
    a copy) on ``torch.get_num_threads()`` threads, and their digests in name order are hashed with sha256: a
    hash list, as collision-resistant as its hashes. The result is a sha256 hex digest.
    """
    from concurrent.futures import ThreadPoolExecutor

    import torch

    algorithm, new = tensor_hash()
    head = {
        "class": f"{type(module).__module__}.{type(module).__qualname__}",
        "library": _library_version(module),
        "config": config_contribution(module),
        "tensor_hash": algorithm,
    }
    processors = getattr(module, "attn_processors", None)
    if isinstance(processors, Mapping):
        head["attn_processors"] = sorted(
            {f"{type(p).__module__}.{type(p).__qualname__}" for p in processors.values()}
        )
    tensors = dict(module.named_parameters(remove_duplicate=False))
    tensors.update(module.named_buffers(remove_duplicate=False))

    def digest(item: tuple[str, Any]) -> bytes:
        name, t = item
        h = new(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        # Raw bytes of any dtype (bf16, float8... included) through a uint8 view of the flattened tensor.
        h.update(t.detach().reshape(-1).view(torch.uint8).cpu().numpy())
        return h.digest()

    h = hashlib.sha256(_dump(canonical(head, "module")).encode())
    with torch.no_grad(), ThreadPoolExecutor(max(1, torch.get_num_threads())) as pool:
        for d in pool.map(digest, sorted(tensors.items(), key=lambda kv: kv[0])):
            h.update(d)
    return h.hexdigest()


def key_of(parts: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of ``parts`` (and the key format's version), first 24 hex digits."""
    return hashlib.sha256(_dump({"v": KEY_VERSION, "parts": canonical(parts)}).encode()).hexdigest()[:24]
