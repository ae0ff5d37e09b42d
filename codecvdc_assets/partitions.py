"""One dynamic partition per video; keys are sanitized video ids (video/ids.py)."""

import dagster as dg

videos_partitions = dg.DynamicPartitionsDefinition(name="videos")
