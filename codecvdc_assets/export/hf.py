"""The Hugging Face datasets layout: ``OUT/<config>/<split>-00000-of-000NN.parquet`` plus the card.

Shards are zstd Parquet written by pyarrow from rows in key order, in row groups of a fixed row count,
so the same rows give the same bytes (a re-export leaves unchanged shards untouched). A shard's rows are
held once in memory (Arrow), so a shard's size bounds the export's memory, not the lake's; each config's
table is scanned once, its rows spilled per shard to temp Arrow files and each shard sorted from its file.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.parquet as pq

from codecvdc_assets.export.outdir import FormatFiles
from codecvdc_assets.export.plan import shards
from codecvdc_assets.export.source import Source
from codecvdc_assets.export.spill import read_spilled, spill

ROW_GROUP = 100_000
ROW_GROUP_BYTES = 16_000_000
ZSTD_LEVEL = 9

Progress = Callable[[str, int, int, int], None]  # (what, done, total, rows)


def write_parquet(path, table: pa.Table, order: pa.Array) -> int:
    """Write `table` in the row order `order`, one row group at a time (one copy of a group, never of the
    table). Groups hold ROW_GROUP_BYTES of rows, at most ROW_GROUP rows: a function of the rows alone."""
    per_row = table.nbytes / max(table.num_rows, 1)
    group = max(1_000, min(ROW_GROUP, int(ROW_GROUP_BYTES / max(per_row, 1))))
    with pq.ParquetWriter(
        path, table.schema, compression="zstd", compression_level=ZSTD_LEVEL, write_statistics=True
    ) as writer:
        for start in range(0, max(len(order), 1), group):
            writer.write_table(table.take(order[start : start + group]), row_group_size=group)
    return table.num_rows


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
        spilled = spill(source, config, plan, files.temp_dir(), progress)
        rows = 0
        for k, (shard, path) in enumerate(zip(plan, spilled, strict=True), 1):
            rel = f"{config}/{shard.split}-{shard.index:05d}-of-{shard.count:05d}.parquet"
            table = read_spilled(path)
            if not table.num_rows:  # every row of the shard's videos left out (flagged captions): no file
                continue
            tmp = files.temp_path(rel)
            rows += write_parquet(tmp, table, source.order(config, table))
            del table
            pa.default_memory_pool().release_unused()  # give the shard's memory back before the next one
            files.commit(rel, tmp)
            layout.setdefault(config, {}).setdefault(shard.split, []).append(rel)
            progress(f"hf {config}", k, len(plan), rows)
    return layout
