"""Experiment trackers: a finished run folder logged into one, so its jobs sit beside a team's other runs.

:mod:`.mlflow_log` logs a run into MLflow (a parent run for the harness run, a nested run per job, written by
:mod:`.mlflow_logger`, named by :mod:`.mlflow_names`); :mod:`.stores` reads tracking URIs and :mod:`.probe`
checks a store before any job runs. MLflow is imported only when something is logged: the CLI and the rest
of the harness never pay for it.
"""
