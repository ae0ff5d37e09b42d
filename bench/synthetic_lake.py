# ruff: noqa: E501  (SQL text)
"""A synthetic lake with CodecVDC-100K's shape, written fast with DuckDB (no model, no video).

Per video: one `videos` row (~4 minutes), 1-11 segments (mean 6), 10-65 one-second residuals per segment
(mean ~225 per video, 35 % `none`), one anchor and one scene narrative per segment, evidence for about
a third of the residuals, one video narrative, and the model calls that would have made them (one
file per asset, as `storage/model_calls.py` writes them). Captions are composed per row from a
vocabulary (colours, ~120 nouns, verbs, zones, directions) in the shape the describers write, so text
lengths and their compressibility are realistic; `frames` (no captions, no query reads it) is not made.

Two layouts: `loose` (one file per table per video, as the assets write them) and `compacted` (straight
into the bucket files of storage/compaction.py, for the full size where a million small files would
take longer to write than to measure).
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from codecvdc_assets.schemas import empty_frame
from codecvdc_assets.storage import lake as lake_files
from codecvdc_assets.storage.atomic import atomic_write_bytes

FULL_VIDEOS = 118_257
TABLES = [
    "videos",
    "segments",
    "anchors",
    "residuals",
    "evidence",
    "scene_narratives",
    "video_narratives",
    "model_calls",
]

COLORS = "red blue green yellow white black grey orange purple brown pink beige".split()
NOUNS = (
    "person man woman child dog cat car bus truck bicycle motorcycle ball door window table chair lamp tree "
    "bird horse boat sign bag box bottle cup phone laptop screen book shelf plant flower fence wall road "
    "sidewalk building roof sky cloud water river bridge train plane helmet jacket shirt hat umbrella bench "
    "cart kite frisbee skateboard surfboard wave rock mountain hill field grass sand snow curtain mirror "
    "clock poster painting keyboard mouse remote cushion blanket pillow bed sofa rug stairs railing pole "
    "light candle fire smoke flag banner crowd group player referee camera microphone guitar drum piano "
    "knife fork plate bowl pan pot oven sink towel basket crate barrel ladder rope wheel tire engine".split()
)
ADJS = "small large tall short round square bright dark striped wooden metal plastic old new shiny".split()
VERBS = "moves walks runs slides rolls drives rides drifts turns jumps".split()
DIRECTIONS = "left right up down toward away".split()
ZONES = [f"{v}-{h}" for v in ("top", "middle", "bottom") for h in ("left", "center", "right")]
CAMERA = ["pans left", "pans right", "tilts up", "tilts down", "zooms in", "zooms out"]
PLACES = "in the foreground|in the background|near the edge|at the center|behind it|next to it".split("|")
TYPES = ["none"] * 35 + ["continuous"] * 30 + ["discrete"] * 15 + ["camera"] * 12 + ["attribute"] * 8


def _lit(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _pick(vocab: str, *key: str) -> str:
    """A vocabulary word chosen by a hash of `key` (deterministic)."""
    return f"{vocab}[1 + hash({', '.join(key)}) % len({vocab})]"


def _sentence(*key: str) -> str:
    adj, color, noun = _pick("adjs", *key, "'a'"), _pick("colors", *key, "'c'"), _pick("nouns", *key, "'n'")
    place, zone, k = _pick("places", *key, "'p'"), _pick("zones", *key, "'z'"), ", ".join(key)
    return (
        f"'A ' || {adj} || ' ' || {color} || ' ' || {noun} || ' is ' || {place} || ', in the ' || {zone} || "
        f"' zone at ' || (hash({k}, 'x') % 100) || '%,' || (hash({k}, 'y') % 100) || '%.'"
    )


def _paragraph(n: str, *key: str) -> str:
    return f"array_to_string(list_transform(range(CAST({n} AS BIGINT)), lambda i: {_sentence(*key, 'i')}), ' ')"


def _words(col: str) -> str:
    return f"len(string_split({col}, ' '))"


def video_id(vnum: int) -> str:
    return f"clip_{vnum:06d}-{hashlib.sha256(str(vnum).encode()).hexdigest()[:10]}"


def setup(con: duckdb.DuckDBPyConnection, vnums: list[int]) -> None:
    """The vocabularies and the videos (`v`) to build rows for."""
    for name, values in [
        ("colors", COLORS),
        ("nouns", NOUNS),
        ("adjs", ADJS),
        ("verbs", VERBS),
        ("dirs", DIRECTIONS),
        ("zones", ZONES),
        ("camera", CAMERA),
        ("places", PLACES),
        ("types", TYPES),
    ]:
        con.execute(f"SET VARIABLE {name} = {_lit(values)}")
    ids = [video_id(i) for i in vnums]
    con.execute("CREATE OR REPLACE TABLE v AS SELECT unnest($1) AS video_id, unnest($2) AS vnum", [ids, vnums])


def _vars(sql: str) -> str:
    for name in ("colors", "nouns", "adjs", "verbs", "dirs", "zones", "camera", "places", "types"):
        sql = sql.replace(f"{name}[", f"getvariable('{name}')[CAST(")
        sql = sql.replace(f"% len({name})]", f"% len(getvariable('{name}')) AS BIGINT)]")
    return sql


def build(con: duckdb.DuckDBPyConnection) -> None:
    """Create one DuckDB table per lake table for the videos in `v`."""
    con.execute("""
        CREATE OR REPLACE TABLE seg AS
        WITH s AS (SELECT video_id, vnum, unnest(range(CAST(1 + hash(vnum, 's') % 11 AS BIGINT))) AS segment_idx FROM v)
        SELECT *, CAST(10 + hash(vnum, segment_idx, 'r') % 56 AS BIGINT) AS n_res FROM s
    """)
    con.execute("""
        CREATE OR REPLACE TABLE seg AS
        SELECT *, sum(n_res + 1) OVER (PARTITION BY video_id ORDER BY segment_idx) - (n_res + 1) AS start_s,
               count(*) OVER (PARTITION BY video_id) AS n_seg
        FROM seg
    """)
    con.execute(
        _vars("""
        CREATE OR REPLACE TABLE videos AS
        SELECT v.video_id, '/data/videos/' || v.video_id || '.mp4' AS path,
               sha256(v.video_id) AS sha256, 20000000 + hash(vnum, 'b') % 80000000 AS size_bytes,
               'mov,mp4,m4a,3gp,3g2,mj2' AS container, 'h264' AS codec, 1280 AS width, 720 AS height,
               25.0 AS fps, d.duration_s, 0.0 AS start_offset_s,
               0 AS rotation, false AS timestamps_synthesized, CAST(d.duration_s * 25 AS BIGINT) AS n_packets,
               true AS has_audio, 'aac' AS audio_codec, CAST(d.duration_s / 2 AS BIGINT) + 1 AS n_iframes,
               2.0 AS gop_mean_s, 0.2 + (hash(vnum, 'g') % 50) / 100 AS gop_cv, 0.02 AS keyframe_ratio,
               'iframe-primary' AS seg_mode, 'GOP CV >= tau_gop' AS mode_reason
        FROM v JOIN (SELECT video_id, CAST(sum(n_res + 1) AS DOUBLE) AS duration_s FROM seg GROUP BY 1) d USING (video_id)
    """)
    )
    con.execute("""
        CREATE OR REPLACE TABLE segments AS
        SELECT video_id, segment_idx, CAST(start_s AS DOUBLE) AS start_s, CAST(start_s + n_res + 1 AS DOUBLE) AS end_s,
               CAST(n_res + 1 AS DOUBLE) AS duration_s, CAST(start_s * 25 AS BIGINT) AS start_frame,
               CAST((start_s + n_res + 1) * 25 AS BIGINT) AS end_frame,
               CASE WHEN segment_idx = 0 THEN 'start' ELSE 'iframe+content' END AS boundary_source,
               CASE WHEN segment_idx = 0 THEN NULL ELSE CAST(start_s AS DOUBLE) END AS iframe_s,
               'iframe-primary' AS seg_mode, 0.3 AS gop_cv
        FROM seg
    """)
    entity = (
        "'{\"name\": \"' || colors[1 + hash(vnum, segment_idx, i, 'ec') % len(colors)] || ' ' || "
        "nouns[1 + hash(vnum, segment_idx, i, 'en') % len(nouns)] || '\", \"zone\": \"' || "
        "zones[1 + hash(vnum, segment_idx, i, 'ez') % len(zones)] || '\", \"xy\": \"' || "
        "(hash(vnum, segment_idx, i, 'x') % 100) || '%,' || (hash(vnum, segment_idx, i, 'y') % 100) || '%\"}'"
    )
    con.execute(
        _vars(f"""
        CREATE OR REPLACE TABLE anchors AS
        WITH a AS (
            SELECT video_id, segment_idx, CAST(start_s AS DOUBLE) AS t_s, sha256(video_id || segment_idx) AS frame_sha256,
                   {_paragraph("6 + hash(vnum, segment_idx, 'k') % 6", "vnum", "segment_idx")} AS caption,
                   '[' || array_to_string(list_transform(range(CAST(3 + hash(vnum, segment_idx) % 5 AS BIGINT)), lambda i: {entity}), ', ')
                       || ']' AS entities_json
            FROM seg
        )
        SELECT video_id, segment_idx, t_s, frame_sha256, caption, {_words("caption")} AS n_words, entities_json,
               'Qwen/Qwen2.5-VL-7B-Instruct' AS model, 'a1b2c3d4e5f6' AS version
        FROM a
    """)
    )
    key = "vnum, segment_idx, pair_idx"
    con.execute(
        _vars(f"""
        CREATE OR REPLACE TABLE residuals AS
        WITH r AS (
            SELECT video_id, vnum, segment_idx, start_s, unnest(range(n_res)) AS pair_idx FROM seg
        ), t AS (
            SELECT *, types[1 + hash({key}, 't') % len(types)] AS change_type,
                   colors[1 + hash({key}, 'c') % len(colors)] || ' ' || nouns[1 + hash({key}, 'n') % len(nouns)] AS subj,
                   zones[1 + hash({key}, 'zf') % len(zones)] AS zf, zones[1 + hash({key}, 'zt') % len(zones)] AS zt,
                   dirs[1 + hash({key}, 'd') % len(dirs)] AS dir
            FROM r
        ), c AS (
            SELECT *, CASE change_type
                WHEN 'none' THEN 'No visible change.'
                WHEN 'continuous' THEN 'The ' || subj || ' ' || verbs[1 + hash({key}, 'v') % len(verbs)] || ' ' || dir
                    || ' from the ' || zf || ' zone to the ' || zt || ' zone.'
                WHEN 'discrete' THEN 'A ' || subj || CASE WHEN hash({key}, 'ad') % 2 = 0 THEN ' appears' ELSE ' disappears' END
                    || ' in the ' || zt || ' zone.'
                WHEN 'camera' THEN 'The camera ' || camera[1 + hash({key}, 'cam') % len(camera)] || ' slowly.'
                ELSE 'The ' || nouns[1 + hash({key}, 'n') % len(nouns)] || ' in the ' || zt || ' zone turns '
                    || colors[1 + hash({key}, 'c2') % len(colors)] || '.'
                END AS delta_caption
            FROM t
        )
        SELECT video_id, segment_idx, pair_idx, CAST(start_s + pair_idx AS DOUBLE) AS t_prev_s,
               CAST(start_s + pair_idx + 1 AS DOUBLE) AS t_s, delta_caption, change_type,
               CASE WHEN change_type IN ('none', 'camera') THEN '' ELSE subj END AS subject,
               CASE WHEN change_type = 'continuous' THEN zf ELSE '' END AS zone_from,
               CASE WHEN change_type IN ('none', 'camera') THEN '' ELSE zt END AS zone_to,
               CASE WHEN change_type = 'continuous' THEN dir ELSE '' END AS direction,
               {_words("delta_caption")} AS n_words, 'Qwen/Qwen2.5-VL-7B-Instruct' AS model, 'f6e5d4c3b2a1' AS version
        FROM c
    """)
    )
    con.execute("""
        CREATE OR REPLACE TABLE evidence AS
        SELECT video_id, segment_idx, CAST(row_number() OVER (PARTITION BY video_id, segment_idx ORDER BY pair_idx) - 1 AS BIGINT)
                   AS event_idx,
               t_prev_s AS t_start_s, t_s + (hash(video_id, pair_idx) % 3) AS t_end_s, delta_caption AS event, change_type,
               subject, direction, zone_from, zone_to, CAST(1 + hash(video_id, pair_idx, 's') % 3 AS BIGINT) AS support,
               hash(video_id, pair_idx, 'acc') % 5 <> 0 AS accepted,
               CASE WHEN change_type = 'camera' THEN 'continuous' ELSE change_type END AS rule,
               CASE WHEN hash(video_id, pair_idx, 'acc') % 5 <> 0 THEN 'supported by consecutive residuals'
                    ELSE 'reversed by the next residual' END AS reason
        FROM residuals
        WHERE change_type <> 'none' AND pair_idx % 2 = 0
    """)
    con.execute(
        _vars(f"""
        CREATE OR REPLACE TABLE scene_narratives AS
        WITH s AS (
            SELECT video_id, segment_idx, CAST(start_s AS DOUBLE) AS start_s, CAST(start_s + n_res + 1 AS DOUBLE) AS end_s,
                   {_paragraph("8 + hash(vnum, segment_idx, 'sn') % 8", "vnum", "segment_idx", "'s'")} AS narrative,
                   CAST(n_res / 3 AS BIGINT) AS n_evidence
            FROM seg
        )
        SELECT video_id, segment_idx, start_s, end_s, narrative, {_words("narrative")} AS n_words, n_evidence,
               'Qwen/Qwen2.5-7B-Instruct' AS model, '0a1b2c3d4e5f' AS version
        FROM s
    """)
    )
    con.execute(
        _vars(f"""
        CREATE OR REPLACE TABLE video_narratives AS
        WITH s AS (
            SELECT video_id, {_paragraph("20 + hash(vnum, 'vn') % 10", "vnum", "'v'")} AS narrative, n_seg
            FROM (SELECT DISTINCT video_id, vnum, n_seg FROM seg)
        )
        SELECT video_id, narrative, {_words("narrative")} AS n_words, n_seg AS n_segments,
               'Qwen/Qwen2.5-7B-Instruct' AS model, 'f0e1d2c3b4a5' AS version
        FROM s
    """)
    )
    # One call per anchor, per residual window of 8 frames (7 pairs), per scene, per video; tokens as a VLM
    # would count them (~1,200 per 720p image).
    con.execute("""
        CREATE OR REPLACE TABLE model_calls AS
        WITH calls AS (
            SELECT video_id, 'anchors' AS asset, 'anchor' AS task, 1300 AS p, n_words * 4 / 3 + 60 AS c, segment_idx AS k
                FROM anchors
            UNION ALL SELECT video_id, 'residuals', 'residual', 9700, 7 * 40, unnest(range(CAST(ceil(n_res / 7) AS BIGINT)))
                FROM seg
            UNION ALL SELECT video_id, 'scene_narratives', 'scene', 900 + n_evidence * 30, n_words * 4 / 3, segment_idx
                FROM scene_narratives
            UNION ALL SELECT video_id, 'video_narratives', 'video', 2000, n_words * 4 / 3, 0 FROM video_narratives
        )
        SELECT video_id, asset, task, 'openai' AS backend,
               CASE WHEN task IN ('anchor', 'residual') THEN 'Qwen/Qwen2.5-VL-7B-Instruct' ELSE 'Qwen/Qwen2.5-7B-Instruct' END
                   AS model,
               'http://vllm:8000/v1' AS endpoint, CAST(p AS BIGINT) AS prompt_tokens, CAST(c AS BIGINT) AS completion_tokens,
               0.5 + (hash(video_id, asset, k) % 3000) / 1000 AS latency_s, 'ok' AS status, false AS cache_hit,
               sha256(video_id || asset || k) AS cache_key, CAST(NULL AS VARCHAR) AS error, CAST(1 AS BIGINT) AS attempt,
               CAST(1 AS BIGINT) AS http_attempts, 'worker-' || (hash(video_id) % 8) || ':4242' AS worker,
               'run-' || asset || '-' || substr(sha256(video_id), 1, 8) AS run_id,
               TIMESTAMP '2026-11-01' + to_seconds(CAST(hash(video_id) % 2000000 AS BIGINT)) AS recorded_at
        FROM calls
    """)


def _schema(table: str) -> pa.Schema:
    return pa.Schema.from_pandas(empty_frame(table), preserve_index=False).remove_metadata()


def arrow(con: duckdb.DuckDBPyConnection, table: str) -> pa.Table:
    """The table as the lake stores it: the pandera model's column types, sorted by video."""
    order = "video_id, asset" if table == "model_calls" else "video_id"
    data = con.sql(f"SELECT * FROM {table} ORDER BY {order}").to_arrow_table()
    return data.select(_schema(table).names).cast(_schema(table))


def write_loose(lake_root: Path, table: str, data: pa.Table, workers: int = 2) -> int:
    """One file per video (per video and asset for model_calls), like Lake.write; returns files written."""
    keys = data.column("video_id").to_numpy(zero_copy_only=False)
    if table == "model_calls":
        keys = np.char.add(
            np.char.add(keys.astype(str), "|"), data.column("asset").to_numpy(zero_copy_only=False).astype(str)
        )
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(keys)]

    def one(span: tuple[int, int]) -> None:
        part = data.slice(span[0], span[1] - span[0])
        video_id = part.column("video_id")[0].as_py()
        name = (
            f"{part.column('asset')[0].as_py()}-1793000000000-synthetc.parquet"
            if table == "model_calls"
            else "data.parquet"
        )
        folder = lake_root / table / f"video_id={video_id}"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(part, folder / name)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, zip(starts, ends, strict=True)))
    return len(starts)


def write_bucket(lake_root: Path, table: str, bucket: int, con: duckdb.DuckDBPyConnection) -> int:
    """One compacted bucket file (the layout `compact` produces) from the videos in `v`; returns rows."""
    target = lake_files.bucket_path(lake_root / table, bucket)
    target.parent.mkdir(parents=True, exist_ok=True)
    name = (
        "'video_id=' || video_id || '/' || asset || '-1793000000000-synthetc.parquet'"
        if table == "model_calls"
        else "'video_id=' || video_id || '/data.parquet'"
    )
    data = arrow(con, table)
    con.register("data_arrow", data)
    source = lake_files.SOURCE
    con.execute(
        f"COPY (SELECT *, {name} AS {source} FROM data_arrow ORDER BY {source}) "
        f"TO '{target}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 100000)"
    )
    sources = [s for (s,) in con.execute(f"SELECT DISTINCT {name} FROM data_arrow ORDER BY 1").fetchall()]
    con.unregister("data_arrow")
    atomic_write_bytes(str(target.with_name(lake_files.INDEX)), json.dumps(sources).encode())
    return data.num_rows


def generate(lake_root: Path, n_videos: int, layout: str, chunk: int = 20_000) -> dict[str, int]:
    """Write the lake; returns rows per table. Videos go in chunks (loose) or per bucket (compacted)."""
    rows = dict.fromkeys(TABLES, 0)
    con = duckdb.connect()
    if layout == "loose":
        groups = [list(range(first, min(first + chunk, n_videos))) for first in range(0, n_videos, chunk)]
    else:
        by_bucket: dict[int, list[int]] = {}
        for vnum in range(n_videos):
            by_bucket.setdefault(lake_files.bucket_of(video_id(vnum)), []).append(vnum)
        groups = [by_bucket.get(k, []) for k in range(lake_files.BUCKETS)]
    for k, vnums in enumerate(groups):
        if not vnums:
            continue
        setup(con, vnums)
        build(con)
        for table in TABLES:
            if layout == "loose":
                data = arrow(con, table)
                write_loose(lake_root, table, data)
                rows[table] += data.num_rows
            else:
                rows[table] += write_bucket(lake_root, table, k, con)
    con.close()
    return rows
