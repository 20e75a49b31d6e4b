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

A state is a flat ``{key: np.ndarray}``: it is written with ``np.savez`` and read with ``allow_pickle=False``
(nothing in a run folder can run code), and it travels through Ray's object store as plain arrays. Merges go in
shard order (the shard holding lower sample indices first): a shard with no samples is the identity.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

from harness.metrics.feature_stats import StreamingStats

__all__ = ["Reduction", "State", "merge_state", "pack_state"]

Reduction = Literal["cat", "sum", "max", "min", "stats"]
REDUCTIONS: frozenset[str] = frozenset({"cat", "sum", "max", "min", "stats"})
State = dict[str, np.ndarray]

_SCALARS = "#scalars"  # a "cat" list of numbers (not of arrays)
_NONE = "#none"  # a "max"/"min" field still None


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
        elif how in ("max", "min"):
            if value is None:
                out[name + _NONE] = np.asarray(True)
            else:
                out[name] = np.array(value, copy=True)
        elif how == "stats":
            out.update({f"{name}.{k}": v for k, v in value.to_state().items()})
        else:
            raise ValueError(
                f"{type(obj).__name__}.{name}: unknown reduction {how!r} (allowed: {sorted(REDUCTIONS)})"
            )
    return out


def merge_state(obj: Any, fields: Mapping[str, str], state: Mapping[str, np.ndarray]) -> None:
    """Merge ``state`` (a shard holding later samples than ``obj``'s) into ``obj``'s ``fields``, in place."""
    for name, how in fields.items():
        if how == "stats":
            prefix = name + "."
            other = StreamingStats.from_state(
                {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            )
            getattr(obj, name).merge(other)
            continue
        if how in ("max", "min"):
            if name + _NONE in state:
                continue
            mine, theirs = getattr(obj, name), _scalar(state[name])
            pick = max if how == "max" else min
            setattr(obj, name, theirs if mine is None else pick(mine, theirs))
            continue
        if name not in state:
            raise ValueError(f"the state has no field {name!r} (it has {sorted(state)})")
        value = state[name]
        if how == "cat":
            if not len(value):
                continue
            items = getattr(obj, name)
            if name + _SCALARS in state:
                items.extend(value.tolist())
            else:
                items.append(np.array(value, copy=True))
        elif how == "sum":
            mine = getattr(obj, name)
            setattr(obj, name, mine + _scalar(value) if np.ndim(mine) == 0 else np.asarray(mine) + value)


def _scalar(value: np.ndarray) -> Any:
    """A 0-d array as the Python number it was (int stays int, float stays float); arrays as they are."""
    return value.item() if np.ndim(value) == 0 else np.array(value, copy=True)
