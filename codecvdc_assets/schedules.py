"""Schedules. The caption-chain backfill schedule arrives with the caption assets (DESIGN.md section 8).

Dynamic partitions rule out build_schedule_from_partitioned_job, so schedules here emit their own
RunRequests.
"""

SCHEDULES: list = []
