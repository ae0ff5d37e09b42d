"""Dagster-free CodecCap caption logic: prompts, windows, requests, acceptance rules, tables.
Imports models, storage, schemas, video, settings."""
