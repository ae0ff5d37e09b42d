"""Test helpers shared by the test packages: project paths, CLI and live-Dagster helpers, services started
on loopback (PostgreSQL, Redis, moto S3, network-namespace hosts), generated bad inputs, model fixtures."""
