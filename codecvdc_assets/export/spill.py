"""One scan per table: every row goes to its shard's temp Arrow IPC file, each shard is then read alone.

A query per shard would scan the whole table once per shard (quadratic in the lake's size); this reads
it once and holds one shard at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from codecvdc_assets.export.plan import Shard
from codecvdc_assets.export.source import CONFIGS, Source


def spill(
    source: Source, config: str, plan: list[Shard], folder: Path, progress: Callable[[str, int, int, int], None]
) -> list[Path]:
    """The config's rows split into one zstd IPC file per shard of `plan`, in plan order; `progress` hears
    (what, 0 shards written, shards, rows read) as the scan goes."""
    shard_of = {video_id: k for k, shard in enumerate(plan) for video_id in shard.video_ids}
    paths = [folder / f"{config}-{k:06d}.arrow" for k in range(len(plan))]
    options = pa.ipc.IpcWriteOptions(compression="zstd")
    writers = [pa.ipc.new_file(str(p), CONFIGS[config].schema, options=options) for p in paths]
    read = 0
    try:
        for shard, rows in source.stream(config, shard_of):
            read += rows.num_rows
            progress(f"{config}: reading the lake", 0, len(plan), read)
            for k in pc.unique(shard).to_pylist():
                writers[k].write_batch(rows.filter(pc.equal(shard, k)))
    finally:
        for writer in writers:
            writer.close()
    return paths


def read_spilled(path: Path) -> pa.Table:
    """A shard's rows (unsorted); the file is removed."""
    with pa.ipc.open_file(str(path)) as reader:
        table = reader.read_all()
    path.unlink()
    return table


def shard_tables(source: Source, spilled: dict[str, list[Path]], k: int) -> dict[str, pa.Table]:
    """Shard `k` of every spilled config, each in key order."""
    tables = {}
    for config, paths in spilled.items():
        table = read_spilled(paths[k])
        tables[config] = table.take(source.order(config, table))
    return tables
