"""The columns of a record that reports, objectives and gates name: one list, with each column's direction.

A column is a speed, memory or cost summary of a job (``latency_ms.p50``, ``peak_rss_mib``) or the name of one
of the suite's metrics. :func:`harness.results.table.flatten` turns a record into one row of these columns.
"""

from __future__ import annotations

# Per-iteration columns: decided on the raw latency samples by the regression gate.
SAMPLED_COLUMNS = (
    "latency_ms.p50",
    "latency_ms.p90",
    "latency_ms.p99",
    "latency_ms.mean",
    "latency_per_item_ms.p50",
    "throughput",
)
# Single values per job: compared directly.
TIME_COLUMNS = ("first_call_ms", "load_s", "compile_s")
MEMORY_COLUMNS = ("peak_rss_mib", "peak_vram_allocated_mib", "peak_vram_reserved_mib", "peak_vram_nvml_mib")
# Energy of the timed loop (per call, per item) and what an item costs at the suite's price of the device.
ENERGY_COLUMNS = ("energy_j", "energy_per_item_j")
COST_COLUMNS = ("cost_per_1k_items_usd",)
# LoadGen scenarios: the highest QPS a Server run sustained under the latency bound, Offline samples/s, and
# the Server run's p99 latency (at max_qps, or at target_qps).
SCENARIO_COLUMNS = ("max_qps", "offline.throughput", "server.p99_ms")

# Every column that objectives, constraints and gates may name besides the suite's metrics.
SPEED_COLUMNS = (
    *SAMPLED_COLUMNS,
    *TIME_COLUMNS,
    *MEMORY_COLUMNS,
    *ENERGY_COLUMNS,
    *COST_COLUMNS,
    *SCENARIO_COLUMNS,
)

# Columns where more is better; every other speed/memory column is better lower.
HIGHER_IS_BETTER_COLUMNS = frozenset({"throughput", "max_qps", "offline.throughput"})


def higher_is_better(column: str) -> bool:
    """The direction of a speed or memory column (metrics carry their own)."""
    return column in HIGHER_IS_BETTER_COLUMNS
