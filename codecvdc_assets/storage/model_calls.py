"""Model call records -> ``lake/model_calls/video_id=<id>/<asset>-<run>.parquet`` (append-only).

Every attempt against a backend and every cache hit is one row; a re-materialization adds files, it
never rewrites history, so "how many calls did the re-run make" is a query.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from dataclasses import asdict

import pandas as pd

from ..models.types import CallRecord
from .lake import GLOBAL, Lake


def write_model_calls(lake: Lake, records: list[CallRecord], run_id: str | None = None) -> int:
    """Write records grouped by video and asset; returns the number of rows written."""
    groups: dict[tuple[str, str], list[CallRecord]] = defaultdict(list)
    for record in records:
        groups[(record.video_id or GLOBAL, record.asset or "none")].append(record)
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    stamp = f"{int(time.time() * 1000)}-{(run_id or uuid.uuid4().hex)[:8]}"
    for (video_id, asset), rows in groups.items():
        frame = pd.DataFrame([{**asdict(r), "run_id": run_id, "recorded_at": now} for r in rows])
        lake.write("model_calls", video_id, frame, name=f"{asset}-{stamp}.parquet")
    return len(records)
