"""Dataset-level checks: Great Expectations 1.x suites (expectations.py, no Dagster) run inside
`@dg.asset_check`s (captions.py). Imports defs.resources, defs.partitions and the Dagster-free packages."""
