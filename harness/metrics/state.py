"""A metric's state: what one shard of a quality pass sends back, and how two shards' states merge (#26).

A metric declares its state on the class, as torchmetrics' ``add_state`` does: ``state_fields`` maps each
attribute that ``update`` changes to how two shards' values of it combine.

* ``"cat"``: a list in sample order (features, per-sample values, logits). The state is one array: the
  list's arrays concatenated along axis 0, or its numbers as a float64 vector (a flag says which). Merging
  appends the other shard's items after this one's, so the merged list is the single pass's, bit for bit.
* ``"sum"``: a number or an array, added (counts exactly; float64 sums to rounding: ≤ 1e-12 relative).
* ``"max"`` / ``"min"``: a number, the larger / smaller (``None`` before any sample).
* ``"stats"``: a :class:`~harness.metrics.feature_stats.StreamingStats` (count, float64 mean and sum of outer
  products of deviations), merged with Chan's pairwise update.
* ``"same"``: a JSON value every shard that set it must agree on (the extractor's protocol, the weights'
  hashes, the data range): ``None`` (a shard without samples) takes the other's; shards that disagree ran
  different systems, and the merge fails rather than mix them.
* ``"first"``: a JSON dict (keys are strings) whose earliest entry per key wins: what a single pass records
  first in sample order (a dimension's first problem).
* ``"metrics"``: a dict of metrics (the parts of a composite score), each merged with its own state.

A state is a flat ``{key: np.ndarray}``: it is written with ``np.savez`` and read with ``allow_pickle=False``
(nothing in a run folder can run code), and it travels through Ray's object store as plain arrays. Merges go in
shard order (the shard holding lower sample indices first): a shard with no samples is the identity. A merge
checks the whole state before it changes anything, so a state that does not fit leaves the metric as it was.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

from harness.metrics.feature_stats import StreamingStats

__all__ = ["REDUCTIONS", "Reduction", "State", "check_state", "merge_state", "pack_state"]

Reduction = Literal["cat", "sum", "max", "min", "stats", "same", "first", "metrics"]
REDUCTIONS: frozenset[str] = frozenset({"cat", "sum", "max", "min", "stats", "same", "first", "metrics"})
State = dict[str, np.ndarray]

_SCALARS = "#scalars"  # a "cat" list of numbers (not of arrays)
_NONE = "#none"  # a "max"/"min"/"same" field still None


def _json(value: Any, *, sort_keys: bool = True) -> str:
    # "same" values compare as text, so their keys are sorted; a "first" dict keeps its order (the order in which
    # one pass met its entries).
    return json.dumps(value, sort_keys=sort_keys, default=str)


def pack_state(obj: Any, fields: Mapping[str, str]) -> State:
    """The state of ``obj``'s ``fields`` as flat arrays (copies: later updates do not change it)."""
    out: State = {}
    for name, how in fields.items():
        value = getattr(obj, name)
        if how == "cat":
            items = list(value)
            if not items or all(np.ndim(v) == 0 for v in items):
                out[name] = np.asarray([float(v) for v in items], dtype=np.float64)
                out[name + _SCALARS] = np.asarray(True)
            else:
                out[name] = np.concatenate([np.asarray(v) for v in items], axis=0)
        elif how == "sum":
            out[name] = np.array(value, copy=True)
        elif how in ("max", "min", "same"):
            if value is None:
                out[name + _NONE] = np.asarray(True)
            elif how == "same":
                out[name] = np.asarray(_json(value))
            else:
                out[name] = np.array(value, copy=True)
        elif how == "first":
            out[name] = np.asarray(_json(dict(value), sort_keys=False))
        elif how == "stats":
            out.update({f"{name}.{k}": v for k, v in value.to_state().items()})
        elif how == "metrics":
            for part, metric in value.items():
                out.update({f"{name}.{part}.{k}": v for k, v in metric.state().items()})
        else:
            raise ValueError(
                f"{type(obj).__name__}.{name}: unknown reduction {how!r} (allowed: {sorted(REDUCTIONS)})"
            )
    return out


def _sub(state: Mapping[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def check_state(obj: Any, fields: Mapping[str, str], state: Mapping[str, np.ndarray]) -> None:
    """Raise ``ValueError`` naming the field where ``state`` cannot merge into ``obj``: a field missing (a state
    of another metric, or a truncated file), or a ``"same"`` value that differs from this shard's."""
    where = type(obj).__name__
    for name, how in fields.items():
        if how == "metrics":
            for part, metric in getattr(obj, name).items():
                sub = _sub(state, f"{name}.{part}.")
                if not sub:
                    raise ValueError(
                        f"{where}: the state has no field {name}.{part} (it has {sorted(state)})"
                    )
                check_state(metric, metric.state_fields, sub)
            continue
        key = f"{name}.n" if how == "stats" else name
        optional = how in ("max", "min", "same") and name + _NONE in state
        if key not in state and not optional:
            raise ValueError(f"{where}: the state has no field {key!r} (it has {sorted(state)})")
        if how == "stats" and f"{name}.mean" in state:
            mine_dim, theirs_dim = getattr(obj, name).dim, state[f"{name}.mean"].shape[0]
            if mine_dim is not None and mine_dim != theirs_dim:
                raise ValueError(f"{where}.{name}: features of d={theirs_dim} cannot merge into d={mine_dim}")
        if how == "same" and not optional:
            mine = getattr(obj, name)
            theirs = str(state[name])
            if mine is not None and _json(mine) != theirs:
                raise ValueError(
                    f"{where}.{name}: the shards disagree ({_json(mine)} here, {theirs} in the merged state): "
                    "shards of one pass must run the same networks, weights and settings"
                )


def merge_state(obj: Any, fields: Mapping[str, str], state: Mapping[str, np.ndarray]) -> None:
    """Merge ``state`` (a shard holding later samples than ``obj``'s) into ``obj``'s ``fields``, in place.

    Raises:
        ValueError: A field is missing or a ``"same"`` value differs (nothing is merged then).
    """
    check_state(obj, fields, state)
    _apply(obj, fields, state)


def _apply(obj: Any, fields: Mapping[str, str], state: Mapping[str, np.ndarray]) -> None:
    for name, how in fields.items():
        if how == "stats":
            getattr(obj, name).merge(StreamingStats.from_state(_sub(state, name + ".")))
        elif how == "metrics":
            for part, metric in getattr(obj, name).items():
                _apply(metric, metric.state_fields, _sub(state, f"{name}.{part}."))
        elif how in ("max", "min", "same"):
            if name + _NONE in state:
                continue
            mine = getattr(obj, name)
            if how == "same":
                if mine is None:
                    setattr(obj, name, json.loads(str(state[name])))
                continue
            theirs = _scalar(state[name])
            pick = max if how == "max" else min
            setattr(obj, name, theirs if mine is None else pick(mine, theirs))
        elif how == "first":
            mine = getattr(obj, name)
            for key, value in json.loads(str(state[name])).items():
                mine.setdefault(key, value)
        elif how == "cat":
            value = state[name]
            if not len(value):
                continue
            items = getattr(obj, name)
            if name + _SCALARS in state:
                items.extend(value.tolist())
            else:
                items.append(np.array(value, copy=True))
        elif how == "sum":
            mine = getattr(obj, name)
            value = state[name]
            setattr(obj, name, mine + _scalar(value) if np.ndim(mine) == 0 else np.asarray(mine) + value)


def _scalar(value: np.ndarray) -> Any:
    """A 0-d array as the Python number it was (int stays int, float stays float); arrays as they are."""
    return value.item() if np.ndim(value) == 0 else np.array(value, copy=True)
