"""The rows an export reads, through the catalog's DuckDB views (storage/catalog.py).

Which videos qualify: those in `videos` that pass the filters, have no current failure (the `failures`
view) in an exported level or anything upstream of it, and have that level's rows. Rows are read one
shard's videos at a time (a join with a registered frame of ids), so no query holds more than a shard.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from codecvdc_assets.export.options import ExportError, ExportOptions
from codecvdc_assets.export.quality import row_sql
from codecvdc_assets.export.splits import assign_splits


@dataclass(frozen=True)
class Config:
    """One Hugging Face config: its lake table, columns (name, type, SQL expression), text and order."""

    table: str
    columns: tuple[tuple[str, pa.DataType, str], ...]
    order: tuple[str, ...]
    text: tuple[str, ...]
    upstream: tuple[str, ...]  # assets whose current failure excludes a video
    description: str

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([(name, typ) for name, typ, _ in self.columns])


def _cols(*spec: str, alias: str = "t") -> tuple[tuple[str, pa.DataType, str], ...]:
    """``name:type[=SQL]`` items (types s, i, f, b); the SQL defaults to the table's column."""
    types = {"s": pa.string(), "i": pa.int64(), "f": pa.float64(), "b": pa.bool_()}
    out = []
    for item in spec:
        name, _, rest = item.partition(":")
        kind, _, expr = rest.partition("=")
        out.append((name, types[kind], expr or f"{alias}.{name}"))
    return tuple(out)


_KEY = ("video_id:s", "sha256:s=p.sha256")
_CHAIN = ("videos", "segments", "frames")
CONFIGS: dict[str, Config] = {
    "videos": Config(
        "videos",
        _cols(
            *_KEY,
            "file_name:s=p.file_name",
            "duration_s:f",
            "fps:f",
            "width:i",
            "height:i",
            "codec:s",
            "has_audio:b",
            "seg_mode:s",
            "gop_cv:f",
            "n_segments:i=p.n_segments",
            "model:s=CAST(NULL AS VARCHAR)",
            "version:s=p.videos_version",
            alias="p",
        ),
        ("video_id",),
        (),
        ("videos",),
        "one row per video: the source file's sha256 and stream facts (no model: probed in code)",
    ),
    "anchors": Config(
        "anchors",
        _cols(
            *_KEY,
            "segment_idx:i",
            "t_s:f",
            "caption:s",
            "n_words:i",
            "entities:s=t.entities_json",
            "frame_sha256:s",
            "model:s",
            "version:s",
        ),
        ("video_id", "segment_idx"),
        ("caption", "entities_json"),
        (*_CHAIN, "anchors"),
        "keyframe anchor caption of each segment (its first frame), entities as JSON",
    ),
    "residuals": Config(
        "residuals",
        _cols(
            *_KEY,
            "segment_idx:i",
            "pair_idx:i",
            "t_prev_s:f",
            "t_s:f",
            "delta_caption:s",
            "change_type:s",
            "subject:s",
            "zone_from:s",
            "zone_to:s",
            "direction:s",
            "n_words:i",
            "model:s",
            "version:s",
        ),
        ("video_id", "segment_idx", "pair_idx"),
        ("delta_caption", "subject"),
        (*_CHAIN, "residuals"),
        "delta-only caption of each adjacent pair of 1 fps frames (t_prev_s -> t_s) with its structured fields",
    ),
    "scene_narratives": Config(
        "scene_narratives",
        _cols(
            *_KEY,
            "segment_idx:i",
            "start_s:f",
            "end_s:f",
            "narrative:s",
            "n_words:i",
            "n_evidence:i",
            "model:s",
            "version:s",
        ),
        ("video_id", "segment_idx"),
        ("narrative",),
        (*_CHAIN, "anchors", "residuals", "evidence", "scene_narratives"),
        "one paragraph per scene: its anchor plus the evidence the acceptance rules accepted",
    ),
    "video_narratives": Config(
        "video_narratives",
        _cols(
            *_KEY,
            "duration_s:f=p.duration_s",
            "narrative:s",
            "n_words:i",
            "n_segments:i",
            "model:s",
            "version:s",
        ),
        ("video_id",),
        ("narrative",),
        (*_CHAIN, "anchors", "residuals", "evidence", "scene_narratives", "video_narratives"),
        "the whole-video narrative, from the scene narratives in order",
    ),
    "chapter_narratives": Config(
        "chapter_narratives",
        _cols(
            *_KEY,
            "level:i",
            "chapter_idx:i",
            "first_segment_idx:i",
            "last_segment_idx:i",
            "start_s:f",
            "end_s:f",
            "n_inputs:i",
            "narrative:s",
            "n_words:i",
            "target_words:i",
            "called:b",
            "model:s",
            "version:s",
        ),
        ("video_id", "level", "chapter_idx"),
        ("narrative",),
        (*_CHAIN, "anchors", "residuals", "evidence", "scene_narratives", "video_narratives"),
        "the levels between scene and video narratives of a long video (consecutive scenes merged, then "
        "chapters merged); none when every scene narrative fit the video narrative's request",
    ),
    # Not a level: the sampled frames that the swift residual windows are made of.
    "frames": Config(
        "frames",
        _cols("video_id:s", "segment_idx:i", "t_s:f", "frame_sha256:s=t.sha256"),
        ("video_id", "segment_idx", "t_s"),
        (),
        ("videos", "segments", "frames"),
        "sampled frames (segment, time, JPEG sha256)",
    ),
}


@dataclass
class Selection:
    """The exported videos (one row each: ids, sha256, split, stream facts) and the ones left out."""

    videos: pd.DataFrame
    excluded: dict[str, int] = field(default_factory=dict)  # reason -> videos
    failed_by_asset: dict[str, int] = field(default_factory=dict)
    # caption_quality rows of the exported levels (export/quality.py); left out unless include_flagged
    flagged: pd.DataFrame | None = None
    include_flagged: bool = False

    def split_names(self) -> list[str]:
        return [s for s in dict.fromkeys(self.videos["split"]) if s]


def _ids(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> set[str]:
    return {r[0] for r in con.execute(sql, params or []).fetchall()}


def select_videos(con: duckdb.DuckDBPyConnection, options: ExportOptions, videos_version: str = "") -> Selection:
    """Which videos an export holds and why the others are left out; raises ExportError on unknown ids."""
    table = con.execute(
        "SELECT video_id, sha256, path, duration_s, fps, width, height, codec, has_audio, seg_mode, "
        "CAST(gop_cv AS DOUBLE) AS gop_cv FROM videos ORDER BY video_id"
    ).fetchdf()
    failures = con.execute("SELECT video_id, asset FROM failures").fetchdf()
    if options.videos:
        known = set(table["video_id"]) | set(failures["video_id"])
        unknown = [v for v in options.videos if v not in known]
        if unknown:
            raise ExportError(f"--video: unknown or never probed video id(s): {', '.join(unknown)}")
        table = table[table["video_id"].isin(options.videos)]
        failures = failures[failures["video_id"].isin(options.videos)]
    configs = [CONFIGS[c] for c in ["videos", *options.configs]]
    relevant = {a for c in configs for a in c.upstream}
    failing = failures[failures["asset"].isin(relevant)]
    excluded: dict[str, int] = {}
    failed_ids = set(failing["video_id"])
    if failed_ids:
        excluded["a current failure in an exported level or upstream of it"] = len(failed_ids)
    table = table[~table["video_id"].isin(failed_ids)]
    low, high = options.min_duration_s, options.max_duration_s
    in_range = table["duration_s"].between(low if low is not None else 0, high if high is not None else float("inf"))
    if (~in_range).any():
        excluded["duration outside --min-duration/--max-duration"] = int((~in_range).sum())
    table = table[in_range]
    missing: set[str] = set()
    for config in configs[1:]:
        have = _ids(con, f"SELECT DISTINCT video_id FROM {config.table}")
        if config.table == "residuals":  # no residual is right when no segment has two frames
            have |= set(table["video_id"]) - _ids(
                con, "SELECT DISTINCT video_id FROM frames GROUP BY video_id, segment_idx HAVING count(*) >= 2"
            )
        if config.table == "chapter_narratives":  # no chapter is right when the scenes fit one request
            have |= _ids(con, "SELECT DISTINCT video_id FROM video_narratives")
        missing |= set(table["video_id"]) - have
    if missing:
        excluded["not captioned yet in an exported level"] = len(missing)
    table = table[~table["video_id"].isin(missing)].copy()
    segments = con.execute("SELECT video_id, count(*) AS n_segments FROM segments GROUP BY 1").fetchdf()
    table = table.merge(segments, on="video_id", how="left")
    table["n_segments"] = table["n_segments"].fillna(0).astype("int64")
    table["file_name"] = [os.path.basename(p) for p in table["path"]]
    table["videos_version"] = videos_version
    shas = dict(zip(table["video_id"], table["sha256"], strict=True))
    table["split"] = table["video_id"].map(assign_splits(shas, options.splits)) if shas else pd.Series(dtype=str)
    failed_by_asset = failing.groupby("asset")["video_id"].nunique().to_dict()
    return Selection(table.reset_index(drop=True), excluded, {str(k): int(v) for k, v in failed_by_asset.items()})


class Source:
    """Rows of the selected videos, a group of videos at a time."""

    def __init__(self, con: duckdb.DuckDBPyConnection, selection: Selection) -> None:
        self.con = con
        self.selection = selection
        con.register("export_sel", selection.videos)
        flagged = selection.flagged
        self.leave_out = (
            set()
            if flagged is None or flagged.empty or selection.include_flagged
            else set(flagged["asset"].astype(str))
        )
        if self.leave_out:
            assert flagged is not None
            con.register("export_flagged", flagged[["video_id", "asset", "row"]].drop_duplicates())

    def _without_flagged(self, config: str) -> str:
        """A WHERE clause leaving out the config's flagged rows (an anti-join with the small flagged set)."""
        table = CONFIGS[config].table
        if table not in self.leave_out:
            return ""
        return (
            " WHERE NOT EXISTS (SELECT 1 FROM export_flagged q WHERE q.video_id = t.video_id "
            f"AND q.asset = '{table}' AND q.row = {row_sql(table)})"
        )

    def _own(self, config: str) -> list[tuple[str, pa.DataType, str]]:
        """The columns read from the config's table (the others come from the selection, `p.`)."""
        return [c for c in CONFIGS[config].columns if not c[2].startswith("p.")]

    def estimate(self, config: str) -> dict[str, tuple[int, float]]:
        """{split: (rows, bytes)} of a config as Arrow holds it (strings and offsets, 8 bytes a number): what
        a shard of it costs in memory while it is written. One aggregate per video, no join: a join could
        pick the table as its build side and hold it whole."""
        cfg = CONFIGS[config]
        videos = self.selection.videos

        def size(cols: list[tuple[str, pa.DataType, str]]) -> str:
            parts = [f"coalesce(strlen({e}), 0) + 4" if t == pa.string() else "8" for _, t, e in cols]
            return " + ".join(parts) or "0"

        if config == "videos":
            per_video = pd.DataFrame({"video_id": videos["video_id"], "n": 1, "b": 0.0})
        else:
            # run.py's connection settings (one thread, 256 MB) also suit this aggregate: DuckDB's parallel
            # aggregate would keep a partitioned hash table per thread.
            per_video = self.con.execute(
                f"SELECT video_id, count(*) AS n, sum({size(self._own(config))}) AS b FROM {cfg.table} t GROUP BY 1"
            ).fetchdf()
        merged = videos[["video_id", "split"]].merge(per_video, on="video_id")
        extra = (
            sum(
                (int(videos[e[2:]].astype(str).str.len().mean()) + 4) if t == pa.string() else 8
                for _, t, e in cfg.columns
                if e.startswith("p.")
            )
            if len(videos)
            else 0
        )
        merged["b"] = merged["b"].astype(float) + merged["n"] * extra
        grouped = merged.groupby("split")[["n", "b"]].sum()
        return {str(s): (int(r.n), float(r.b)) for s, r in grouped.iterrows()}

    def stream(
        self, config: str, shard_of: dict[str, int], rows: int = 65_536
    ) -> Iterator[tuple[pa.Array, pa.RecordBatch]]:
        """Every row of the config in one scan, unsorted, with each row's shard (`shard_of[video_id]`).

        DuckDB reads the table alone (no join that could hold it); the selection's columns (sha256, ...)
        and the shard are attached in pyarrow by looking the video id up in the selection."""
        cfg = CONFIGS[config]
        videos = self.selection.videos
        keys = pa.array(videos["video_id"], pa.string())
        shard = pa.array([shard_of.get(v, -1) for v in videos["video_id"]], pa.int64())
        if config == "videos":  # the selection holds these rows
            data = {n: videos[e[2:]] if e.startswith("p.") else [None] * len(videos) for n, _, e in cfg.columns}
            table = pa.Table.from_pandas(pd.DataFrame(data), schema=cfg.schema, preserve_index=False)
            offset = 0
            for b in table.to_batches():
                yield shard.slice(offset, b.num_rows), b
                offset += b.num_rows
            return
        own = self._own(config)
        looked_up = {expr[2:]: pa.array(videos[expr[2:]], typ) for _, typ, expr in cfg.columns if expr.startswith("p.")}
        select = ", ".join(f"{expr} AS {name}" for name, _, expr in own)
        reader = self.con.sql(f"SELECT {select} FROM {cfg.table} t{self._without_flagged(config)}").to_arrow_reader(
            rows
        )
        for b in reader:
            idx = pc.index_in(b.column("video_id"), value_set=keys)
            keep = pc.is_valid(idx)
            b, idx = b.filter(keep), idx.filter(keep)
            if not b.num_rows:
                continue
            arrays = [
                looked_up[expr[2:]].take(idx) if expr.startswith("p.") else b.column(name).cast(typ)
                for name, typ, expr in cfg.columns
            ]
            yield shard.take(idx), pa.RecordBatch.from_arrays(arrays, schema=cfg.schema)

    @staticmethod
    def order(config: str, table: pa.Table) -> pa.Array:
        """Row indices in key order (the keys are unique per config: a total, deterministic order)."""
        return pc.sort_indices(table, sort_keys=[(k, "ascending") for k in CONFIGS[config].order])

    def evidence_by_rule(self) -> list[tuple[str, int, int]]:
        """(rule, accepted, rejected) over the evidence of the exported videos."""
        return self.con.execute(
            "SELECT rule, count(*) FILTER (WHERE accepted), count(*) FILTER (WHERE NOT accepted) "
            "FROM evidence WHERE video_id IN (SELECT video_id FROM export_sel) GROUP BY 1 ORDER BY 1"
        ).fetchall()
