"""Materialize through Dagster (dynamic partitions on a real instance), then query the catalog."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import duckdb
from support.paths import shared

from codecvdc_assets.definitions import build_definitions
from codecvdc_assets.defs.sensors import video_files_sensor
from codecvdc_assets.runs.batching import batch_plan
from codecvdc_assets.runs.execute import materialize_many
from codecvdc_assets.runs.instance import add_partitions
from codecvdc_assets.runs.selection import expand_selection
from codecvdc_assets.runs.status import partition_status, stale_selection
from codecvdc_assets.storage.catalog import connect
from codecvdc_assets.storage.lake import Lake
from codecvdc_assets.storage.registry import Registry


def register(home, *paths: str) -> list[str]:
    registry = Registry(home)
    return [registry.register(p)[0].video_id for p in paths]


def test_materialize_writes_lake_and_catalog(home) -> None:
    defs = build_definitions(home=str(home))
    instance = dg.DagsterInstance.get()
    ids = register(home, shared("bikes.mp4"), shared("cityCC0.mpg"))
    add_partitions(instance, ids)
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    for video_id in ids:
        result = dg.materialize(
            assets,
            instance=instance,
            partition_key=video_id,
            resources=defs.resources,
            selection=["videos", "segments", "frames"],
        )
        assert result.success
        keys = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
        assert {"videos", "segments", "frames"} <= keys
        segments_md = [
            e.materialization.metadata
            for e in result.get_asset_materialization_events()
            if e.asset_key.to_user_string() == "segments"
        ][0]
        assert "segments" in segments_md and segments_md["dagster/row_count"].value >= 1

    con = connect(home)
    bikes_id = ids[0]
    starts = con.execute("select start_s from segments where video_id = ? order by segment_idx", [bikes_id]).fetchall()
    assert [round(r[0], 2) for r in starts] == [0.0, 1.2, 3.04, 5.48, 7.48, 9.68]
    modes = dict(con.execute("select video_id, seg_mode from videos").fetchall())
    assert modes == {ids[0]: "iframe-primary", ids[1]: "content-primary"}
    n_samples = con.execute("select count(*) from frames where is_sample and video_id = ?", [ids[1]]).fetchone()[0]
    assert n_samples == 8  # cityCC0 is 7.6 s
    assert con.execute("select count(*) from failures").fetchone()[0] == 0
    # The catalog is opened read-only: a query cannot write.
    try:
        con.execute("create table x as select 1")
        raise AssertionError("read-only catalog accepted a write")
    except duckdb.Error:
        pass
    con.close()

    status = partition_status(defs, instance, Lake(home), ids)
    for row in status.values():  # the ingest assets ran; the caption chain has not yet
        assert [row.pop(k) for k in ("videos", "segments", "frames")] == ["fresh"] * 3
        assert set(row.values()) == {"missing"}


def test_bad_videos_fail_cleanly_and_others_finish(home, tmp_path) -> None:
    bad_text = tmp_path / "notes.mp4"
    bad_text.write_text("this is not a video\n" * 50)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(Path(shared("testvideo.mp4")).read_bytes()[:400_000])
    good = shutil.copy(shared("counter.mp4"), tmp_path / "good.mp4")
    ids = register(home, str(bad_text), str(empty), str(truncated), str(good))
    defs = build_definitions(home=str(home))
    instance = dg.DagsterInstance.get()
    add_partitions(instance, ids)
    outcomes = materialize_many(defs, instance, {v: expand_selection(defs, None) for v in ids}, Lake(home))
    by_id = {o.video_id: o for o in outcomes}
    assert by_id[ids[3]].ok and {"videos", "segments", "frames", "video_narratives"} <= set(by_id[ids[3]].materialized)
    for video_id, path in zip(ids[:3], [bad_text, empty, truncated], strict=True):
        outcome = by_id[video_id]
        assert not outcome.ok
        assert str(path) in outcome.error, outcome.error
    con = connect(home)
    rows = con.execute("select video_id, asset, message from failures order by video_id").fetchall()
    con.close()
    failed = {(r[0], r[1]) for r in rows}
    assert failed == {(v, "videos") for v in ids[:3]}
    messages = {r[0]: r[2] for r in rows}
    assert "empty file (0 bytes)" in messages[ids[1]]
    assert "not a readable media file" in messages[ids[0]]
    status = partition_status(defs, instance, Lake(home), ids)
    assert status[ids[0]]["videos"] == "failed" and status[ids[3]]["frames"] == "fresh"


def test_status_reports_stale_after_a_parameter_change(home) -> None:
    ids = register(home, shared("counter.mp4"))
    defs = build_definitions(home=str(home))
    instance = dg.DagsterInstance.get()
    add_partitions(instance, ids)
    materialize_many(defs, instance, {v: expand_selection(defs, None) for v in ids}, Lake(home))
    profile = {"segmentation": {"sample_fps": 2.0}}
    from codecvdc_assets.definitions import build_assets, build_resources

    changed = build_resources(profile, str(home))
    defs2 = dg.Definitions(assets=build_assets(changed), resources=changed)
    status = partition_status(defs2, instance, Lake(home), ids)[ids[0]]
    assert status.pop("videos") == "fresh"
    assert set(status.values()) == {"stale"}  # segments and frames by code version, the captions downstream
    plan = stale_selection(defs2, instance, Lake(home), ids)
    assert "videos" not in {k.to_user_string() for k in plan[ids[0]]}
    materialize_many(defs2, instance, plan, Lake(home))
    assert set(partition_status(defs2, instance, Lake(home), ids)[ids[0]].values()) == {"fresh"}


def test_sensor_registers_new_files_once(home, tmp_path) -> None:
    root = tmp_path / "incoming"
    root.mkdir()
    shutil.copy(shared("counter.mp4"), root / "a.mp4")
    shutil.copy(shared("counter.mp4"), root / "copy of a.mp4")  # same content: one partition
    shutil.copy(shared("bigbuckbunny.mp4"), root / "b.mov")
    (root / "readme.txt").write_text("x")
    instance = dg.DagsterInstance.get()
    from codecvdc_assets.defs.resources import LakeResource, VideoRootsResource

    resources = {"lake": LakeResource(home=str(home)), "video_roots": VideoRootsResource(roots=[str(root)])}
    context = dg.build_sensor_context(instance=instance, resources=resources)
    result = video_files_sensor(context)
    assert isinstance(result, dg.SensorResult)
    (request,) = result.dynamic_partitions_requests
    assert len(request.partition_keys) == 2
    instance.add_dynamic_partitions("videos", list(request.partition_keys))
    again = video_files_sensor(dg.build_sensor_context(instance=instance, resources=resources))
    assert again.skip_reason is not None and not again.dynamic_partitions_requests


def test_small_files_share_bigger_runs() -> None:
    keys = [dg.AssetKey("videos")]
    order = [f"v{i:03d}" for i in range(250)]
    plan = {v: keys for v in order}
    assert [len(b) for b, _ in batch_plan(plan, order, 25)] == [25] * 10
    tiny = dict.fromkeys(order, 33_000)  # 2 s generated clips
    assert [len(b) for b, _ in batch_plan(plan, order, 25, sizes=tiny, batch_bytes=8 << 20)] == [100, 100, 50]
    mixed = {v: 500_000 if i < 60 else 33_000 for i, v in enumerate(order)}  # 25 x 0.5 MB: over 8 MiB
    assert [len(b) for b, _ in batch_plan(plan, order, 25, sizes=mixed, batch_bytes=8 << 20)] == [25, 25, 100, 100]
    alone = batch_plan(plan, order, 25, isolate={"v010"}, sizes=tiny, batch_bytes=8 << 20)
    assert [len(b) for b, _ in alone] == [10, 1, 100, 100, 39]
    assert [len(b) for b, _ in batch_plan(plan, order, 25, sizes={}, batch_bytes=8 << 20)] == [25] * 10  # unknown


def test_run_batching_follows_the_profile_unless_a_batch_size_is_given(tmp_path, clips) -> None:
    import os

    from codecvdc_assets.runs.batching import run_batching
    from codecvdc_assets.storage.registry import Registry

    registry = Registry(tmp_path)
    video_id = registry.register(clips["cuts"])[0].video_id
    assert run_batching(registry, {"batch_size": 10, "batch_mib": 8}, 5).__dict__ == {
        "batch_size": 5,
        "sizes": {},
        "batch_bytes": 0,
    }
    assert run_batching(registry, {"batch_size": 10}).batch_bytes == 0
    batching = run_batching(registry, {"batch_mib": 8})
    assert (batching.batch_size, batching.batch_bytes) == (25, 8 << 20)
    # Sizes are read per planned video from the registry (not all entries up front); unknown ids have none.
    assert batching.sizes[video_id] == os.path.getsize(clips["cuts"])
    assert batching.sizes.get("other-0123456789") is None
    assert dict(batching.sizes) == {video_id: os.path.getsize(clips["cuts"])}
