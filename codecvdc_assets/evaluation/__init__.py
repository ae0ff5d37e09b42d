"""Dagster-free VidCapQA: question banks, importers, scoring, caption sources, benchmark construction."""
