"""Dagster-free storage: the Parquet lake (compacted files' read side too), the frame store, blob stores,
the DuckDB catalog, the video registry, integrity records. Imports schemas, video, settings."""
