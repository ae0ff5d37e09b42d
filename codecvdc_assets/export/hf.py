"""The Hugging Face datasets layout: ``OUT/<config>/<split>-00000-of-000NN.parquet`` plus the card.

Shards are zstd Parquet written by pyarrow from rows in key order, in row groups of a fixed row count,
so the same rows give the same bytes (a re-export leaves unchanged shards untouched).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from .outdir import FormatFiles
from .plan import shards
from .source import CONFIGS, Source

ROW_GROUP = 100_000
ZSTD_LEVEL = 9

Progress = Callable[[str, int, int, int], None]  # (what, done, total, rows)


def rechunk(batches: Iterator[pa.RecordBatch], schema: pa.Schema, size: int) -> Iterator[pa.Table]:
    """Tables of exactly `size` rows (the last one shorter) whatever sizes the batches came in."""
    pending: list[pa.RecordBatch] = []
    count, emitted = 0, False
    for batch in batches:
        pending.append(batch)
        count += batch.num_rows
        while count >= size:
            table = pa.Table.from_batches(pending, schema=schema)
            yield table.slice(0, size)
            emitted = True
            rest = table.slice(size)
            pending, count = rest.to_batches(), rest.num_rows
    if count or not emitted:  # the rest, or the one empty table of a shard without rows
        yield pa.Table.from_batches(pending, schema=schema)


def write_parquet(path, batches: Iterator[pa.RecordBatch], schema: pa.Schema) -> int:
    rows = 0
    with pq.ParquetWriter(
        path, schema, compression="zstd", compression_level=ZSTD_LEVEL, write_statistics=True
    ) as writer:
        for table in rechunk(batches, schema, ROW_GROUP):
            writer.write_table(table, row_group_size=ROW_GROUP)
            rows += table.num_rows
    return rows


def write_hf(
    source: Source, configs: list[str], files: FormatFiles, target_bytes: float, progress: Progress
) -> dict[str, dict[str, list[str]]]:
    """Write every config's shards; returns {config: {split: [relative paths]}}."""
    layout: dict[str, dict[str, list[str]]] = {}
    videos = source.selection.videos
    for config in configs:
        estimate = source.estimate(config)
        plan = [
            shard
            for split in source.selection.split_names()
            for shard in shards(videos, split, estimate.get(split, (0, 0.0))[1], target_bytes)
        ]
        schema = CONFIGS[config].schema
        rows = 0
        for k, shard in enumerate(plan, 1):
            rel = f"{config}/{shard.split}-{shard.index:05d}-of-{shard.count:05d}.parquet"
            tmp = files.temp_path(rel)
            rows += write_parquet(tmp, source.batches(config, shard.video_ids), schema)
            files.commit(rel, tmp)
            layout.setdefault(config, {}).setdefault(shard.split, []).append(rel)
            progress(f"hf {config}", k, len(plan), rows)
    return layout
