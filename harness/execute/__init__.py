"""Executors: run Jobs and stream their Records into a RunStore."""
