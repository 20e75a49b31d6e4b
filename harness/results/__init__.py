"""Results: the record schema (:mod:`.record`, its JSON values :mod:`.values`), run.json (:mod:`.run_meta`),
run folders (:mod:`.store`), the table of columns (:mod:`.columns`, :mod:`.table`) and what makes runs
comparable (:mod:`.environment`)."""

from __future__ import annotations

from harness.results.columns import SPEED_COLUMNS
from harness.results.environment import BACKEND_PACKAGES, ENV_FIELDS, comparable_environment
from harness.results.record import SCHEMA_VERSION, MetricResult, Record, parse_record
from harness.results.run_meta import RunMeta
from harness.results.store import RECORDS, RUN_META, RecordsRead, RunStore, dumps
from harness.results.table import column_value, flatten, to_frame
from harness.results.values import number

__all__ = [
    "BACKEND_PACKAGES",
    "ENV_FIELDS",
    "RECORDS",
    "RUN_META",
    "SCHEMA_VERSION",
    "SPEED_COLUMNS",
    "MetricResult",
    "Record",
    "RecordsRead",
    "RunMeta",
    "RunStore",
    "column_value",
    "comparable_environment",
    "dumps",
    "flatten",
    "number",
    "parse_record",
    "to_frame",
]
