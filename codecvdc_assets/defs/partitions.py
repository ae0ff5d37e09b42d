"""One dynamic partition per video; keys are sanitized video ids (video/ids.py)."""

import dagster as dg

from codecvdc_assets.runs.instance import VIDEOS_PARTITIONS

videos_partitions = dg.DynamicPartitionsDefinition(name=VIDEOS_PARTITIONS)
