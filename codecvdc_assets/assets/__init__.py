"""Thin Dagster shells around the Dagster-free logic packages; one module per stage."""
