"""Driving Dagster from outside its daemon: the instance, asset selection, status, batching, execution,
Celery workers, process groups; imports the Dagster-free packages only (never `defs`, `definitions`, `cli`)."""
