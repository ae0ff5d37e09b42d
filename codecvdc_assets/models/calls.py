"""Model call records -> ``lake/model_calls/video_id=<id>/<asset>-<stamp>.parquet`` (append-only).

Every attempt against a backend and every cache hit is one row; a re-materialization adds files, it
never rewrites history, so "how many calls did the re-run make" is a query.

Records survive a killed process: while a step runs, each record is also appended to a journal
(``journal/model_calls/<stamp>.jsonl``, one JSON line per call, held under an exclusive ``flock``). The
step's end writes the Parquet files and deletes the journal; a journal whose lock can be taken belongs to
a dead process and `recover_journals` turns it into the same Parquet files. File names derive from the
journal's stamp, so a crash between the two writes (or two recoverers) rewrites identical files, never
duplicates rows.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
import uuid
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import IO

import pandas as pd

from codecvdc_assets.models.types import CallRecord
from codecvdc_assets.storage.lake import GLOBAL, Lake


def new_stamp(run_id: str | None = None) -> str:
    return f"{int(time.time() * 1000)}-{(run_id or '')[:8]}-{uuid.uuid4().hex[:8]}"


def write_model_calls(
    lake: Lake, records: list[CallRecord], run_id: str | None = None, stamp: str | None = None
) -> int:
    """Write records grouped by video and asset; returns the number of rows written."""
    groups: dict[tuple[str, str], list[CallRecord]] = defaultdict(list)
    for record in records:
        groups[(record.video_id or GLOBAL, record.asset or "none")].append(record)
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    stamp = stamp or new_stamp(run_id)
    for (video_id, asset), rows in groups.items():
        frame = pd.DataFrame([{**asdict(r), "run_id": run_id, "recorded_at": now} for r in rows])
        lake.write("model_calls", video_id, frame, name=f"{asset}-{stamp}.parquet")
    return len(records)


def journal_dir(lake: Lake) -> Path:
    return lake.home / "journal" / "model_calls"


class CallJournal(list):
    """The call records of one step: a list (what ModelClient appends to) that also journals each record."""

    def __init__(self, lake: Lake, run_id: str | None) -> None:
        super().__init__()
        self.lake, self.run_id, self.stamp = lake, run_id, new_stamp(run_id)
        folder = journal_dir(lake)
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{self.stamp}.jsonl"
        # Lock before the file gets its visible name, so a recoverer never takes a live journal for dead.
        hidden = folder / f".{self.stamp}.open"
        self._fh: IO[str] | None = open(hidden, "a")  # noqa: SIM115 (held for the step's lifetime)
        fcntl.flock(self._fh, fcntl.LOCK_EX)
        self._fh.write(json.dumps({"run_id": run_id}) + "\n")
        self._fh.flush()
        os.replace(hidden, self.path)

    def append(self, record: CallRecord) -> None:  # type: ignore[override]
        super().append(record)
        if self._fh is not None:
            # A line per call, flushed: the kernel keeps it even if this process is killed right after.
            self._fh.write(json.dumps(asdict(record)) + "\n")
            self._fh.flush()

    def commit(self) -> int:
        """Write the records to the lake and drop the journal."""
        n = write_model_calls(self.lake, list(self), self.run_id, self.stamp)
        if self._fh is not None:
            self.path.unlink(missing_ok=True)
            self._fh.close()
            self._fh = None
        return n


def recover_journals(lake: Lake) -> int:
    """Turn the journals of dead processes into model_calls files; returns the number of rows recovered."""
    folder = journal_dir(lake)
    recovered = 0
    if not folder.exists():
        return 0
    for stray in folder.glob(".*.open"):  # killed before its journal got a name: holds no call yet
        with open(stray) as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            stray.unlink(missing_ok=True)
    for path in sorted(folder.glob("*.jsonl")):
        try:
            fh = open(path)  # noqa: SIM115
        except FileNotFoundError:  # another process recovered it meanwhile
            continue
        with fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # its process is alive
                continue
            if not path.exists():
                continue
            lines = fh.read().splitlines()
            run_id = json.loads(lines[0]).get("run_id") if lines else None
            records = []
            for line in lines[1:]:
                try:
                    records.append(CallRecord(**json.loads(line)))
                except (json.JSONDecodeError, TypeError):  # a line torn by the kill: that call was not recorded
                    continue
            recovered += write_model_calls(lake, records, run_id, path.stem)
            path.unlink(missing_ok=True)
    return recovered
