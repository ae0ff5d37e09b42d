"""The s3 profile against a real S3 API on loopback (moto's server, started here): the whole chain for
two videos read from an S3 video root, the lake, frames and call cache on S3 with the on-disk layout,
catalog queries through DuckDB with no extension, and a re-run answered from the S3 cache."""

from __future__ import annotations

import io
import json
import os
import shutil
from contextlib import redirect_stdout
from pathlib import Path

import dagster as dg
import pytest
from support.paths import shared
from support.s3 import BUCKET, PREFIX

from codecvdc_assets.cli import main as cli
from codecvdc_assets.definitions import build_definitions
from codecvdc_assets.defs.resources import LakeResource, open_lake
from codecvdc_assets.defs.sensors import video_files_sensor
from codecvdc_assets.runs.execute import materialize_many
from codecvdc_assets.runs.selection import expand_selection
from codecvdc_assets.storage.blobs import S3Blobs
from codecvdc_assets.storage.catalog import connect, load_views
from codecvdc_assets.storage.lake import Lake
from codecvdc_assets.storage.registry import Registry
from codecvdc_assets.video.synthetic import write_clip

CAPTION_VIEWS = ["videos", "segments", "frames", "anchors", "residuals", "evidence", "scene_narratives"]
# Columns that differ between two runs of the same input by nature: where the file was, when, which run.
VOLATILE = {"path", "run_id", "recorded_at", "failed_at", "latency_s", "cache_hit", "endpoint"}


def all_keys(client, prefix: str) -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for p in pages for o in p.get("Contents", [])]


def sql_json(query: str) -> list[dict]:
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli(["sql", query, "--format", "json"]) == 0
    return json.loads(out.getvalue())


def comparable(con, view: str) -> list[str]:
    """A view's rows without the volatile columns, as sorted JSON lines (same types from either lake)."""
    frame = con.sql(f"select * from {view}").df()
    frame = frame.drop(columns=[c for c in frame.columns if c in VOLATILE])
    return sorted(json.dumps(row, sort_keys=True) for row in json.loads(frame.to_json(orient="records")))


def test_profile_refuses_credentials_and_non_s3_urls(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="credentials come from the environment"):
        LakeResource(home=str(tmp_path), storage_url="s3://b/p", s3={"aws_secret_access_key": "x"})
    with pytest.raises(ValueError, match="not an s3:// URL"):
        LakeResource(home=str(tmp_path), storage_url="/data/lake")


@pytest.mark.slow
def test_whole_chain_on_s3_matches_a_local_run(home: Path, tmp_path: Path, s3_env: dict, monkeypatch) -> None:
    client = s3_env["client"]
    generated = write_clip(str(tmp_path / "two cuts.mp4"), 4.0, fps=10, width=160, height=120, cuts_s=(1.5, 3.0))
    client.upload_file(shared("counter.mp4"), BUCKET, "incoming/videos/counter.mp4")
    client.upload_file(generated, BUCKET, "incoming/videos/gen/two cuts.mp4")
    client.put_object(Bucket=BUCKET, Key="incoming/videos/notes.txt", Body=b"not a video")

    # The s3 profile: the sensor lists the S3 video root and registers both objects (same ids as on disk).
    monkeypatch.setenv("CODECVDC_PROFILE", "s3")
    defs = build_definitions("s3", home=str(home))
    instance = dg.DagsterInstance.get()
    with dg.build_sensor_context(instance=instance, resources=defs.resources) as context:
        result = video_files_sensor(context)
    (request,) = result.dynamic_partitions_requests
    ids = sorted(request.partition_keys)
    instance.add_dynamic_partitions("videos", ids)
    lake = open_lake(home)
    assert isinstance(lake.blobs, S3Blobs) and lake.glob("anchors").startswith(f"s3://{BUCKET}/{PREFIX}/lake/")
    plan = {v: expand_selection(defs, None) for v in ids}
    outcomes = materialize_many(defs, instance, plan, lake)
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]

    # The on-disk layout under s3://bucket/prefix/, and nothing of it under the local home.
    keys = set(all_keys(client, PREFIX + "/"))
    for view in [*CAPTION_VIEWS, "video_narratives"]:
        assert f"{PREFIX}/lake/{view}/_schema/data.parquet" in keys
        for video_id in ids:
            assert f"{PREFIX}/lake/{view}/video_id={video_id}/data.parquet" in keys
    frames = lake.read_all("frames")
    assert {f"{PREFIX}/{uri}" for uri in frames["uri"]} <= keys
    assert all(f"{PREFIX}/frames/{sha[:2]}/{sha}.jpg" in keys for sha in frames["sha256"])
    cache_keys = [k for k in keys if k.startswith(f"{PREFIX}/cache/model_calls/")]
    assert cache_keys and all(k.endswith(".json") for k in cache_keys)
    for folder in ("lake", "frames", "cache"):
        assert not (home / folder).exists(), f"{folder}/ written under the local home"
    assert not any((home / "tmp").iterdir()), "temp copies of the S3 videos were not deleted"
    assert {r.path for r in Registry(home).all()} == {
        f"s3://{BUCKET}/incoming/videos/counter.mp4",
        f"s3://{BUCKET}/incoming/videos/gen/two cuts.mp4",
    }

    # The local reference: the same two files, the embedded profile, another home (same Dagster instance).
    local_home = tmp_path / "local-home"
    local_home.mkdir()
    registry = Registry(local_home)
    local_ids = sorted(registry.register(p)[0].video_id for p in (shared("counter.mp4"), generated))
    local_defs = build_definitions("embedded", home=str(local_home))
    assert local_ids == ids  # same content, same ids: the partitions exist already
    local_plan = {v: expand_selection(local_defs, None) for v in local_ids}
    outcomes = materialize_many(local_defs, instance, local_plan, Lake(local_home))
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    local_con = connect(local_home, lake=Lake(local_home))
    local_views = {v: comparable(local_con, v) for v in load_views(Lake(local_home))}
    local_con.close()

    # Every view over the S3 lake has the local run's rows (paths, run ids and times aside), through
    # `codecvdc sql` (the active profile's catalog) and a catalog connection.
    views = list(load_views(lake))
    counts = sql_json(" union all ".join(f"select '{v}' as view, count(*) as n from {v}" for v in views))
    assert {r["view"]: r["n"] for r in counts} == {v: len(local_views[v]) for v in views}
    con = connect(home, lake=open_lake(home))
    try:
        for view in views:
            if view == "model_calls":  # its cache_hit/latency columns differ by nature; counted above
                continue
            got = comparable(con, view)
            diff = [
                (k, a.get(k), b.get(k))
                for x, y in zip(got, local_views[view], strict=True)
                for a, b in [(json.loads(x), json.loads(y))]
                for k in a
                if a.get(k) != b.get(k)
            ]
            assert not diff, (view, diff[:3])
    finally:
        con.close()
    assert all(len(local_views[v]) > 0 for v in [*CAPTION_VIEWS, "video_narratives"])
    paths = sql_json("select distinct path from videos order by path")
    assert [r["path"] for r in paths] == sorted(r.path for r in Registry(home).all())
    narratives = sql_json("select video_id, narrative from video_narratives order by video_id")
    assert len(narratives) == 2 and all(len(r["narrative"].split()) > 10 for r in narratives)

    # No DuckDB extension was installed or loaded beyond the statically linked ones (no httpfs).
    con = connect(home, lake=open_lake(home))
    try:
        extra = con.sql(
            "select extension_name from duckdb_extensions() "
            "where (loaded or installed) and install_mode is distinct from 'STATICALLY_LINKED'"
        ).fetchall()
        assert extra == []
        assert con.execute("select count(*) from anchors").fetchone()[0] > 0
    finally:
        con.close()

    # A re-run of the whole chain makes zero model calls: every answer comes from the cache on S3.
    before = sql_json("select count(*) as n from model_calls")[0]["n"]
    captions = [k for k in plan[ids[0]] if k.to_user_string() not in ("videos", "segments", "frames")]
    outcomes = materialize_many(defs, instance, {v: captions for v in ids}, lake)
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    rerun = sql_json(
        "select count(*) as n, count(*) filter (where not cache_hit) as calls from model_calls "
        f"where run_id = '{outcomes[0].run_id}'"
    )[0]
    assert rerun["n"] > 0 and rerun["calls"] == 0
    assert sql_json("select count(*) as n from model_calls")[0]["n"] > before


def test_s3_video_that_is_not_a_video_fails_cleanly(home: Path, s3_env: dict, monkeypatch) -> None:
    client = s3_env["client"]
    client.put_object(Bucket=BUCKET, Key="incoming/videos/broken.mp4", Body=b"this is not a video\n" * 100)
    monkeypatch.setenv("CODECVDC_PROFILE", "s3")
    defs = build_definitions("s3", home=str(home))
    instance = dg.DagsterInstance.get()
    with dg.build_sensor_context(instance=instance, resources=defs.resources) as context:
        (request,) = video_files_sensor(context).dynamic_partitions_requests
    (video_id,) = request.partition_keys
    instance.add_dynamic_partitions("videos", [video_id])
    lake = open_lake(home)
    (outcome,) = materialize_many(defs, instance, {video_id: expand_selection(defs, ["videos"])}, lake)
    assert not outcome.ok
    uri = f"s3://{BUCKET}/incoming/videos/broken.mp4"
    assert outcome.error.startswith(f"{uri}: not a readable media file"), outcome.error
    (row,) = sql_json("select video_id, asset, message from failures")
    assert row["video_id"] == video_id and row["message"].startswith(uri)
    assert not any((home / "tmp").iterdir())
    shutil.rmtree(home / "tmp")
    assert os.listdir(home)  # the local home still holds the registry, Dagster and the catalog
