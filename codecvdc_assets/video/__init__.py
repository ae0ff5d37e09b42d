"""Dagster-free video logic: ids, probing, I-frame scan, segmentation, frame sampling, frame sinks.
Imports settings only."""
