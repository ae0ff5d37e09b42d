"""Dagster as users run it: `codecvdc ui` (dagster dev: webserver + daemon) on a copy of the project, with
the user's own profile file (a temp video root, fast sensor intervals, a per-minute backfill cron),
driven only through the webserver's GraphQL API (the UI's own calls) and a real headless browser.

One `dagster dev` serves the whole module; the tests run in order on it:
drop files -> captions (sensor), per-partition metadata, prompt edit -> exactly the stale work redone
(reload), scheduled backfill, the UI's "Materialize all" backfill, the asset graph in Chromium, and
stopping `codecvdc ui` with SIGTERM. Every wait is bounded; the fixture ends every process it started.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import pandas as pd
import pytest
from support.dagster_live import (
    LiveDagster,
    alive,
    chromium_dom,
    codecvdc_ui,
    copy_project,
    descendants,
    stop,
    wait_for,
    write_profile,
)

from codecvdc_assets.video.synthetic import write_clip

pytestmark = pytest.mark.slow

PER_VIDEO_CHAIN = ["videos", "segments", "frames", "anchors", "residuals", "evidence", "scene_narratives"]
DOWNSTREAM_OF_RESIDUALS = [
    "residuals", "evidence", "scene_narratives", "video_narratives", "chapter_narratives", "vidcapqa_answers"
]  # fmt: skip
UNTOUCHED_BY_RESIDUALS = ["videos", "segments", "frames", "anchors", "direct_captions", "per_second_captions"]
RUN_WAIT_S = 300  # one batched run of two short clips takes well under a minute; the machine is shared
TIMINGS: dict[str, float] = {}


class Setup:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.project = copy_project(base / "project")
        self.videos = base / "videos"  # the profile's video root: empty until a test drops files in
        self.videos.mkdir()
        clips = base / "clips"
        clips.mkdir()
        self.clips = [
            write_clip(str(clips / "street.mp4"), 4.0, fps=10, width=160, height=120, cuts_s=(2.0,), keyint=10),
            write_clip(str(clips / "market.mp4"), 5.0, fps=10, width=160, height=120, cuts_s=(3.0,), seed=4),
        ]
        self.home = base / "home"
        self.profile = write_profile(
            base / "my-profile.yaml",  # outside the project: CODECVDC_PROFILE names the file
            self.videos,
            {"video_files_interval_s": 2, "stale_interval_s": 3, "backfill_cron": "* * * * *", "batch_size": 25},
            executor={"kind": "in_process"},  # one process per run: the runs are short
        )
        self.video_ids: list[str] = []


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    return Setup(tmp_path_factory.mktemp("live"))


@pytest.fixture(scope="module")
def live(setup: Setup):
    with codecvdc_ui(setup.project, setup.home, setup.profile, setup.base / "ui.log") as server:
        yield server


def lake_rows(setup: Setup, table: str, video_id: str) -> pd.DataFrame:
    return pd.read_parquet(setup.home / "lake" / table / f"video_id={video_id}" / "data.parquet")


def model_calls(setup: Setup) -> pd.DataFrame:
    files = sorted((setup.home / "lake" / "model_calls").glob("video_id=*/*.parquet"))
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True) if files else pd.DataFrame()


def newest(live: LiveDagster, asset: str, partition: str | None) -> float:
    event = live.latest(asset, partition)
    return int(event["timestamp"]) / 1000 if event else 0.0


def redone_since(live: LiveDagster, since: float, assets: list[str], partitions: list[str], scores: bool = True):
    """True once every (asset, partition) has a materialization newer than `since` and is fresh for Dagster
    (and the scores over all videos too, unless `scores` is False), with no run left in flight."""

    def check():
        live.check_running()
        for partition in partitions:
            if any(newest(live, a, partition) < since for a in assets):
                return False
            stale = {a: s for a, s in live.stale_status(assets, partition).items() if s != "FRESH"}
            if stale:
                return False
        return (not scores or newest(live, "vidcapqa_scores", None) >= since) and not live.unfinished_runs()

    return check


def assert_no_errors(live: LiveDagster) -> None:
    assert live.failed_ticks() == []
    failed = live.failed_runs()
    assert failed == [], [r["runId"] for r in failed]


def test_drop_files_get_captions(live: LiveDagster, setup: Setup) -> None:
    assert live.location_state()[2] == "RepositoryLocation"
    live.set_sensor("stale_assets", True)  # the UI's toggle; video_files is on by default
    staging = setup.base / "staging"  # copied beside the root, then renamed in: the sensor never sees half a file
    staging.mkdir()
    staged = [shutil.copy(clip, staging) for clip in setup.clips]
    dropped = time.monotonic()
    for path in staged:
        os.rename(path, setup.videos / Path(path).name)

    def both_done():
        live.check_running()
        done = live.materialized("video_narratives") & live.materialized("vidcapqa_answers")
        return done if len(done) == 2 else None

    setup.video_ids = sorted(wait_for("captions of both dropped files", both_done, RUN_WAIT_S, 2, live.log))
    TIMINGS["drop_to_narratives_s"] = time.monotonic() - dropped
    wait_for("vidcapqa_scores", lambda: newest(live, "vidcapqa_scores", None) > 0, RUN_WAIT_S, 2, live.log)
    TIMINGS["drop_to_scores_s"] = time.monotonic() - dropped
    for asset in [*PER_VIDEO_CHAIN, "video_narratives", "vidcapqa_answers"]:
        assert live.materialized(asset) == set(setup.video_ids), asset
    ticks = live.ticks("sensor", "video_files")
    registered = {k for t in ticks for r in t["dynamicPartitionsRequestResults"] for k in r["partitionKeys"] or []}
    assert registered == set(setup.video_ids), "video_files did not register the dropped files"
    launched = [t for t in live.ticks("sensor", "stale_assets") if t["runIds"]]
    assert launched, "stale_assets launched no run"
    batched = [r for r in live.runs() if {t["key"] for t in r["tags"]} >= {"dagster/asset_partition_range_start"}]
    assert batched, "the two videos were not run as one batch"
    # No video was captioned twice: a tick leaves alone the videos whose run is still queued or running.
    anchor_runs = [r for r in live.runs() if "anchors" in {a["path"][0] for a in r["assetSelection"] or []}]
    assert len(anchor_runs) == 1, [r["runId"] for r in anchor_runs]
    assert_no_errors(live)
    print(
        f"drop -> video_narratives of both: {TIMINGS['drop_to_narratives_s']:.1f} s, "
        f"-> vidcapqa_scores: {TIMINGS['drop_to_scores_s']:.1f} s"
    )


def entries(event: dict) -> dict[str, object]:
    out = {}
    for entry in event["metadataEntries"]:
        value = [v for k, v in entry.items() if k not in ("label", "__typename")]
        out[entry["label"]] = value[0] if value else None
    return out


def test_batched_run_shows_each_videos_metadata(live: LiveDagster, setup: Setup) -> None:
    a, b = setup.video_ids
    for asset, table in (
        ("residuals", "residuals"),
        ("segments", "segments"),
        ("video_narratives", "video_narratives"),
    ):
        seen = {}
        for vid in (a, b):
            event = live.latest(asset, vid)
            assert event["partition"] == vid
            meta = entries(event)
            assert "per_video" not in meta  # not the batch's table
            assert meta["videos_in_run"] == 2  # it was a batched run
            rows = len(lake_rows(setup, table, vid))
            assert meta["dagster/row_count"] == rows, (asset, vid, meta)
            seen[vid] = meta
        if asset == "video_narratives":
            for vid in (a, b):
                narrative = lake_rows(setup, "video_narratives", vid).iloc[0]["narrative"]
                assert seen[vid]["preview"] == narrative[:3000]
            assert seen[a]["preview"] != seen[b]["preview"]
    for vid in (a, b):
        tokens = entries(live.latest("anchors", vid))
        calls = model_calls(setup)
        mine = calls[(calls["video_id"] == vid) & (calls["asset"] == "anchors")]
        assert tokens["completion_tokens"] == int(mine["completion_tokens"].sum()), tokens


def test_prompt_edit_redoes_exactly_the_stale_work(live: LiveDagster, setup: Setup) -> None:
    before = {(a, v): newest(live, a, v) for a in UNTOUCHED_BY_RESIDUALS for v in setup.video_ids}
    anchor_calls = len(model_calls(setup).query("asset == 'anchors'"))
    prompt = setup.project / "prompts" / "residual.md"
    prompt.write_text(prompt.read_text() + "\nName the moving subject's colour in every delta caption.\n")
    edited = time.time()
    started = time.monotonic()
    live.reload()  # the UI's "Reload" on the code location
    wait_for(
        "residuals and everything downstream redone for both videos",
        redone_since(live, edited, DOWNSTREAM_OF_RESIDUALS, setup.video_ids),
        RUN_WAIT_S,
        2,
        live.log,
    )
    TIMINGS["prompt_edit_to_fresh_s"] = time.monotonic() - started
    after = {(a, v): newest(live, a, v) for a in UNTOUCHED_BY_RESIDUALS for v in setup.video_ids}
    assert after == before  # segments, frames, anchors (and the baselines) kept their materializations
    assert len(model_calls(setup).query("asset == 'anchors'")) == anchor_calls  # no anchor model call
    for vid in setup.video_ids:
        assert set(live.stale_status(UNTOUCHED_BY_RESIDUALS, vid).values()) == {"FRESH"}
    assert_no_errors(live)
    print(f"prompt edit -> fresh: {TIMINGS['prompt_edit_to_fresh_s']:.1f} s")


def test_scheduled_backfill(live: LiveDagster, setup: Setup) -> None:
    live.set_sensor("stale_assets", False)
    prompt = setup.project / "prompts" / "qa_answer.md"
    prompt.write_text(prompt.read_text() + "\nAnswer unknown when the caption does not say.\n")
    edited = time.time()
    live.reload()
    live.set_schedule("caption_backfill", True)  # profile cron: every minute
    tick = wait_for(
        "a caption_backfill tick that launched runs",
        lambda: next((t for t in live.ticks("schedule", "caption_backfill") if t["runIds"]), None),
        150,
        3,
        live.log,
    )
    wait_for(
        "the answers of both videos redone by the schedule",
        redone_since(live, edited, ["vidcapqa_answers"], setup.video_ids, scores=False),
        RUN_WAIT_S,
        2,
        live.log,
    )
    live.set_schedule("caption_backfill", False)
    runs = {r["runId"]: r for r in live.runs()}
    covered = set()
    for run_id in tick["runIds"]:
        tags = {t["key"]: t["value"] for t in runs[run_id]["tags"]}
        assert tags["dagster/schedule_name"] == "caption_backfill"
        assert {a["path"][0] for a in runs[run_id]["assetSelection"]} == {"vidcapqa_answers"}
        if "dagster/partition" in tags:
            covered.add(tags["dagster/partition"])
        else:
            covered |= {tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]}
    assert covered == set(setup.video_ids)  # every stale video, and nothing else re-run
    assert_no_errors(live)


BACKFILL = """
mutation Backfill($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message }
  ... on PartitionSetNotFoundError { message } ... on InvalidStepError { invalidStepKey } } }
"""
BACKFILL_STATUS = """
query Status($id: String!) { partitionBackfillOrError(backfillId: $id) { __typename
  ... on PartitionBackfill { status error { message } } ... on PythonError { message } } }
"""
ALL_ASSETS = "{ assetNodes { assetKey { path } isPartitioned } }"


def test_materialize_all_backfill(live: LiveDagster, setup: Setup) -> None:
    nodes = live.graphql(ALL_ASSETS)["assetNodes"]
    assert {n["isPartitioned"] for n in nodes} == {True, False}  # mixed: per video and dataset-level
    started = time.time()
    params = {"assetSelection": [n["assetKey"] for n in nodes], "allPartitions": True}
    launched = live.graphql(BACKFILL, {"params": params})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched

    def finished():
        live.check_running()
        status = live.graphql(BACKFILL_STATUS, {"id": launched["backfillId"]})["partitionBackfillOrError"]
        return status if status["status"] not in ("REQUESTED", "CANCELING", "FAILING") else None

    status = wait_for("the Materialize-all backfill", finished, 2 * RUN_WAIT_S, 3, live.log)
    assert status["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), status
    for node in nodes:
        name = node["assetKey"]["path"][-1]
        partitions = setup.video_ids if node["isPartitioned"] else [None]
        for vid in partitions:
            assert newest(live, name, vid) >= started, (name, vid)
    # The dependencies ordered the runs: the bank before the answers, every answer before the scores.
    first_answers = min(newest(live, "vidcapqa_answers", v) for v in setup.video_ids)
    assert newest(live, "vidcapqa_bank", None) <= first_answers
    assert max(newest(live, "vidcapqa_answers", v) for v in setup.video_ids) <= newest(live, "vidcapqa_scores", None)
    assert_no_errors(live)


def test_asset_graph_in_chromium(live: LiveDagster, setup: Setup) -> None:
    nodes = live.graphql("{ assetNodes { assetKey { path } groupName } }")["assetNodes"]
    names = sorted(n["assetKey"]["path"][-1] for n in nodes)
    # The global lineage page with every group expanded (the "Expand all groups" state, kept in the URL);
    # a big window so the whole graph is in view (nodes outside the viewport are not rendered) at a zoom
    # where nodes show their full names.
    expanded = ",".join(sorted({f"global@global:{n['groupName']}" for n in nodes}))
    url = live.url(f"/asset-groups?expanded={expanded}")
    with chromium_dom(url, setup.base / "chromium", window="6000,4500") as dom:
        rendered = [n for n in names if f">{n}</div>" in dom]
    assert "<title" in dom and "Global asset lineage" in dom, dom[:1000]
    assert rendered == names, f"not rendered: {sorted(set(names) - set(rendered))}"


def test_ui_stops_on_sigterm(live: LiveDagster) -> None:
    live.remember_processes()
    children = descendants(live.proc.pid)
    assert len(children) >= 4  # dagster dev, the webserver, the daemon, code servers
    took = stop(live, signal.SIGTERM)
    assert live.proc.returncode is not None and took < 15, f"codecvdc ui took {took:.1f} s"
    time.sleep(0.5)
    assert alive(live.seen) == set(), [Path(f"/proc/{p}/cmdline").read_bytes()[:200] for p in alive(live.seen)]
    print(f"codecvdc ui stopped in {took:.1f} s; timings {json.dumps(TIMINGS)}")
