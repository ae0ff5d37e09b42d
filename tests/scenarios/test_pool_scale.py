"""A pool of 5,000 registered videos (issue #23): a run's cost and the planning paths counted in instance
queries, not seconds. One session fixture builds the pool once: 5,000 dynamic partitions registered directly
on the SQLite instance plus a few real generated clips added with `codecvdc add`; a small pool of the same
clips alone is the baseline a run's cost is compared with."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
from support.query_counter import Counts, QueryCounter

from codecvdc_assets.video.synthetic import write_clip

POOL = 5000
CLIPS = 4


@dataclass
class Home:
    root: Path
    ids: list[str]  # the real clips' video ids
    run: Counts  # what the first `codecvdc run` of the clips (the whole chain) asked of the instance


def _env(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    monkeypatch.setenv("CODECVDC_HOME", str(root))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("CODECVDC_PROFILE", raising=False)
    from codecvdc_assets.settings import dagster_home

    dagster_home(root)


def _build(root: Path, clips: list[str], synthetic: int) -> Home:
    from codecvdc_assets.cli import main
    from codecvdc_assets.runs.instance import get_instance

    with pytest.MonkeyPatch.context() as mp:
        _env(mp, root)
        if synthetic:  # registered before the clips: the clips are the newest partitions, as in a growing pool
            get_instance().add_dynamic_partitions("videos", [f"pool-{i:05d}-0123456789" for i in range(synthetic)])
        assert main(["add", *clips]) == 0
        ids = [k for k in get_instance().get_dynamic_partitions("videos") if not k.startswith("pool-")]
        # The whole chain once for the clips (and the dataset-level assets): the pool's fresh part.
        with QueryCounter() as counts:
            assert main(["run", *(a for v in ids for a in ("--video", v))]) == 0
    return Home(root, ids, counts)


@pytest.fixture(scope="session")
def homes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Home]:
    """{"pool": 5,000 synthetic partitions + the clips, "small": the clips alone}, the clips run through the
    whole chain once in each (counted); built once per session."""
    base = tmp_path_factory.mktemp("pool")
    clips = [
        write_clip(str(base / f"clip{i}.mp4"), 2.0, fps=10, width=160, height=120, cuts_s=[1.0], seed=i)
        for i in range(CLIPS)
    ]
    return {"pool": _build(base / "pool", clips, POOL), "small": _build(base / "small", clips, 0)}


@pytest.fixture
def pool(homes: dict[str, Home], monkeypatch: pytest.MonkeyPatch) -> Iterator[Home]:
    _env(monkeypatch, homes["pool"].root)
    yield homes["pool"]


def test_a_run_costs_the_same_queries_in_a_5000_video_pool(homes) -> None:
    """The whole chain for the clips (one CLI run, made by the fixture in each home): Dagster asks for the
    partition keys hundreds of times (per metadata call, output, input and planned asset), the instance loads
    them from the storage at most once per CLI instance; the run's SQL statements are those of the same run
    in a pool of the clips alone."""
    small, big = homes["small"].run, homes["pool"].run
    assets = 14
    assert big.key_calls >= CLIPS * assets  # each was a load of all keys before PoolInstance
    assert big.key_loads <= 3, big  # the CLI's instances, each loading once: not per video and asset
    assert big.keys_loaded <= 3 * (POOL + CLIPS)
    assert small.key_loads <= 3
    assert big.statements <= 1.2 * small.statements, (big.statements, small.statements, big.by_table, small.by_table)


def test_status_of_the_pool_is_a_few_queries_per_asset(pool, capsys) -> None:
    from codecvdc_assets.cli import main

    with QueryCounter() as counts:
        assert main(["status", "--json"]) == 0
    table = json.loads(capsys.readouterr().out)["videos"]
    assert len(table) == POOL + CLIPS
    assert {state for vid, row in table.items() if vid.startswith("pool-") for state in row.values()} == {"missing"}
    assert counts.key_loads <= 2
    # Per asset: latest storage ids in IN chunks of 1,000 and code versions of what exists; not per video.
    assert counts.statements < 600, counts.by_table


def test_stale_planning_is_linear_in_queries(pool) -> None:
    from codecvdc_assets.definitions import build_definitions
    from codecvdc_assets.runs.instance import get_instance
    from codecvdc_assets.runs.selection import per_video_keys
    from codecvdc_assets.runs.status import stale_selection
    from codecvdc_assets.storage.lake import Lake

    defs = build_definitions(home=str(pool.root))
    instance = get_instance()
    videos = list(instance.get_dynamic_partitions("videos"))
    with QueryCounter() as counts:
        plan = stale_selection(defs, instance, Lake(pool.root), videos, per_video_keys(defs))
    keys = per_video_keys(defs)
    assert len(plan) >= POOL and all(plan[f"pool-{i:05d}-0123456789"] == keys for i in (0, POOL - 1))
    assert counts.key_loads <= 1
    assert counts.statements < 600, counts.by_table  # 14 assets x (6 IN chunks + code versions), not 70,000


def test_stale_sensor_tick_covers_3000_videos_with_a_cursor(pool) -> None:
    from codecvdc_assets.definitions import build_definitions
    from codecvdc_assets.defs.sensors import VIDEOS_PER_TICK
    from codecvdc_assets.runs.batching import RANGE_END, RANGE_START
    from codecvdc_assets.runs.instance import get_instance

    defs = build_definitions(home=str(pool.root))
    sensor = defs.get_sensor_def("stale_assets")
    instance = get_instance()
    order = list(instance.get_dynamic_partitions("videos"))
    covered: list[str] = []
    cursor = None
    for _tick in range(2):
        context = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"lake": defs.resources["lake"]})
        with QueryCounter() as counts:
            result = sensor(context)
        assert counts.key_loads <= 1
        assert counts.statements < 600, counts.by_table  # a few batched queries per asset, not per video
        for request in result.run_requests:
            tags = request.tags
            start, end = tags.get(RANGE_START, request.partition_key), tags.get(RANGE_END, request.partition_key)
            covered += order[order.index(start) : order.index(end) + 1]
        cursor = result.cursor
    assert VIDEOS_PER_TICK >= 2400  # 40 videos/s at the 60 s interval
    assert cursor == str(len(order))  # tick 1: 3,000 videos; tick 2: the rest of the pool
    # Every synthetic video is missing everything: the two ticks requested the whole pool but the fresh clips.
    assert set(covered) == {v for v in order if v.startswith("pool-")}


def test_backfill_schedule_requests_the_whole_pool_in_one_tick(pool) -> None:
    from codecvdc_assets.definitions import build_definitions
    from codecvdc_assets.runs.instance import get_instance

    defs = build_definitions(home=str(pool.root))
    schedule = defs.get_schedule_def("caption_backfill")
    context = dg.build_schedule_context(instance=get_instance(), resources={"lake": defs.resources["lake"]})
    with QueryCounter() as counts:
        requests = list(schedule(context))
    assert sum(int(r.tags["codecvdc/videos"]) for r in requests) == POOL
    assert counts.key_loads <= 1
    assert counts.statements < 600, counts.by_table


def test_membership_check_of_run_is_a_set(pool, capsys) -> None:
    """`codecvdc run --video` with an unknown id among 5,000 known ones: one clear error naming it."""
    from codecvdc_assets.cli import main

    assert main(["run", "--video", "pool-00001-0123456789", "--video", "nope-0123456789"]) != 0
    assert "unknown video id(s): nope-0123456789" in capsys.readouterr().err
    assert os.environ["CODECVDC_HOME"] == str(pool.root)


def test_stale_plan_slices_cover_the_pool_as_one_plan_does(pool) -> None:
    """Sliced planning (what `run --stale` does) gives the plan of the whole pool, slice by slice in the pool's
    order; the first slice costs its own videos' queries, not the pool's."""
    from codecvdc_assets.definitions import build_definitions
    from codecvdc_assets.runs.instance import get_instance
    from codecvdc_assets.runs.status import stale_plan, stale_plan_slices
    from codecvdc_assets.storage.lake import Lake

    defs = build_definitions(home=str(pool.root))
    instance, lake = get_instance(), Lake(pool.root)
    videos = sorted(instance.get_dynamic_partitions("videos"))
    with QueryCounter() as whole_counts:
        whole = stale_plan(defs, instance, lake, videos)
    slices = stale_plan_slices(defs, instance, lake, videos, first=500, most=2000)
    with QueryCounter() as first_counts:
        first = next(slices)
    rest = list(slices)
    assert [s.checked for s in [first, *rest]] == [500, 1500, 3500, POOL + CLIPS]
    assert all(s.total == POOL + CLIPS for s in [first, *rest])
    merged = {vid: keys for s in [first, *rest] for vid, keys in s.videos.items()}
    assert merged == whole.videos and len(merged) == POOL  # the clips are fresh, the synthetic ones missing
    assert list(first.videos) == [v for v in videos[:500] if v in whole.videos]
    assert first.pre == whole.pre and all(not s.pre for s in rest)
    assert rest[-1].post == whole.post and whole.post and all(not s.post for s in [first, *rest[:-1]])
    # 14 assets: one IN list of 500 each, against six of 1,000 for the pool (and the code versions of the clips).
    assert first_counts.statements < 0.6 * whole_counts.statements, (first_counts.by_table, whole_counts.by_table)


def test_run_stale_starts_its_first_run_after_one_slice(pool, capsys, monkeypatch) -> None:
    """`codecvdc run --stale` in the 5,000-video pool: the first run starts after the first 1,000 videos are
    planned; interrupted there (as by Ctrl-C), it says the planned videos are interrupted, not failed."""
    from codecvdc_assets.cli import main
    from codecvdc_assets.runs import execute
    from codecvdc_assets.runs.status import PLAN_FIRST

    batches: list[list[str]] = []

    def first_run(defs, instance, video_ids, keys, lake, executor="in_process"):
        batches.append(list(video_ids))
        raise KeyboardInterrupt

    monkeypatch.setattr(execute, "materialize_batch", first_run)
    assert main(["run", "--stale", "--select", "videos"]) == 130
    out = capsys.readouterr().out
    stale = PLAN_FIRST - CLIPS  # the clips' ids sort first in the pool, and their `videos` is fresh
    assert (
        f"materializing videos for {stale} video(s) (planned {PLAN_FIRST:,} of {POOL + CLIPS:,} videos so far)" in out
    )
    assert len(batches) == 1 and len(batches[0]) == 25
    assert f" videos {stale}/{stale}+ " in out  # every planned video reported, more slices to plan
    assert f"interrupted: 0 video(s) ok, 0 failed, {stale} interrupted" in out
