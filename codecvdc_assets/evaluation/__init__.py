"""Dagster-free VidCapQA and caption metrics: banks, importers, scoring, caption sources, construction,
the report. Imports captioning, models, storage, schemas, video, settings."""
