"""Dagster-free CodecCap caption logic: prompts, windows, requests, acceptance rules, tables."""
