"""Dagster-free storage: the Parquet lake, the content-addressed frame store, the DuckDB catalog."""
