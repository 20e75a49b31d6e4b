"""Timers, memory trackers, statistics and the environment of a run."""
