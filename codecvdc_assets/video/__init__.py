"""Dagster-free video logic: probing, I-frame scan, segmentation, frame sampling."""
