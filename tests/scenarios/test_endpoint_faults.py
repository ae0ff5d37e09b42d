"""Failing endpoints through real Dagster runs of the caption chain (the loopback server, openai backend).

Every fault kind, persistent: bounded attempts seen by the server, schema-type failures re-asked exactly
once with the reason, a `model_calls` row that is not `ok`, a failed partition whose `failures` message
names the video, the asset and the fault, and no caption row. Then 30 % random faults over three videos:
a second run once the faults stop completes every video, with no duplicate rows, no successful call
repeated, and tables equal to a fault-free run's.
"""

from __future__ import annotations

from collections import Counter
from itertools import pairwise
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import pandas as pd
import pytest
from support.model_helpers import loopback_project
from support.paths import shared

from codecvdc_assets.definitions import build_definitions
from codecvdc_assets.models.server import FAULTS, FaultPlan, LoopbackServer
from codecvdc_assets.runs.execute import materialize_many
from codecvdc_assets.runs.instance import add_partitions
from codecvdc_assets.runs.selection import expand_selection
from codecvdc_assets.runs.status import partition_status
from codecvdc_assets.settings import dagster_home
from codecvdc_assets.storage.catalog import connect
from codecvdc_assets.storage.lake import Lake
from codecvdc_assets.storage.registry import Registry
from codecvdc_assets.video.synthetic import write_clip

CHAIN = ["anchors", "residuals", "evidence", "scene_narratives", "video_narratives"]
KEYS = {
    "videos": ["video_id"],
    "segments": ["video_id", "segment_idx"],
    "frames": ["video_id", "frame_idx"],
    "anchors": ["video_id", "segment_idx"],
    "residuals": ["video_id", "segment_idx", "t_s"],
    "evidence": ["video_id", "segment_idx", "event_idx"],
    "scene_narratives": ["video_id", "segment_idx"],
    "video_narratives": ["video_id"],
}
RETRIES = 2  # the profile's max_retries: 3 attempts per call
RETRY_AFTER_S = 1.2  # above the client's own first backoffs (0.375-1 s), so honouring it is visible
TRANSPORT = {
    "429": "HTTP 429 (injected fault 429) after 3 attempts",
    "500": "HTTP 500 (injected fault 500) after 3 attempts",
    "503": "HTTP 503 (injected fault 503) after 3 attempts",
    "reset": "connection failed (RemoteProtocolError: peer closed connection without sending complete message body",
    "timeout": "timed out (no response within 1 s) after 3 attempts",
}
ANSWERS = {
    "malformed": ("invalid", "not valid JSON"),
    "schema": (
        "invalid",
        "schema violation at (root): Additional properties are not allowed ('unexpected' was unexpected)",
    ),
    "empty": ("invalid", "empty answer"),
    "truncated": ("truncated", "answer cut at max_tokens=4096"),
}


def use_home(mp: pytest.MonkeyPatch, home: Path) -> dg.DagsterInstance:
    home.mkdir(exist_ok=True)
    mp.setenv("CODECVDC_HOME", str(home))
    mp.setenv("DAGSTER_HOME", str(home / "dagster"))
    dagster_home(home)
    return dg.DagsterInstance.get()


def query(home: Path, sql: str, params: list | None = None) -> pd.DataFrame:
    con = connect(home)
    try:
        return con.execute(sql, params or []).df()
    finally:
        con.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    """counter.mp4 (3 s: one segment, one residual window) ingested once; each test runs the chain."""
    root = tmp_path_factory.mktemp("faults")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CODECVDC_PROJECT_DIR", str(loopback_project(root / "project")))
        mp.delenv("CODECVDC_PROFILE", raising=False)
        mp.setenv("LOOPBACK_KEY", "sk-test-faults")
        mp.setenv("LOOPBACK_RETRIES", str(RETRIES))
        home = root / "home"
        instance = use_home(mp, home)
        video_id = Registry(home).register(shared("counter.mp4"))[0].video_id
        add_partitions(instance, [video_id])
        defs = build_definitions("embedded", str(home))
        (ingest,) = materialize_many(defs, instance, {video_id: expand_selection(defs, ["segments"])}, Lake(home))
        assert ingest.ok, ingest.error
        yield SimpleNamespace(home=home, video_id=video_id, instance=instance, mp=mp)


def test_every_fault_kind_of_the_issue_exists() -> None:
    assert set(FAULTS) == set(TRANSPORT) | set(ANSWERS)


@pytest.mark.parametrize("kind", [*TRANSPORT, *ANSWERS])
def test_persistent_fault_fails_the_partition_cleanly(world, kind: str) -> None:
    home, vid = world.home, world.video_id
    plan = FaultPlan(fault_rate=1.0, faults=(kind,), retry_after_s=RETRY_AFTER_S, hang_s=10)
    with LoopbackServer(plan) as server:
        world.mp.setenv("LOOPBACK_URL", server.base_url)
        world.mp.setenv("LOOPBACK_TIMEOUT_S", "1")
        defs = build_definitions("loopback", str(home))
        (outcome,) = materialize_many(defs, world.instance, {vid: expand_selection(defs, CHAIN)}, Lake(home))
    assert not outcome.ok
    seen = list(plan.log)
    calls = query(home, "select * from model_calls where run_id = ? order by asset, attempt", [outcome.run_id])
    # One anchor call (one segment) and one residual call (three frames, one window of 4).
    firsts = calls[calls["attempt"] == 1]
    assert sorted(firsts["asset"]) == ["anchors", "residuals"] and firsts["cache_key"].is_unique
    assert (calls["status"] != "ok").all() and not calls["cache_hit"].any()
    if kind in TRANSPORT:
        # Bounded retries: 1 + max_retries attempts per call, all for the same request, then one `error` row.
        assert len(seen) == 2 * (RETRIES + 1)
        assert sorted(Counter(s.key for s in seen).values()) == [RETRIES + 1] * 2
        assert set(Counter(s.key for s in seen)) == set(firsts["cache_key"])
        assert sorted(s.retry_count for s in seen) == [0, 0, 1, 1, 2, 2]
        assert list(calls["status"]) == ["error", "error"] and list(calls["http_attempts"]) == [RETRIES + 1] * 2
        assert all(TRANSPORT[kind] in e for e in calls["error"]), list(calls["error"])
        if kind == "429":  # Retry-After honoured: server-side arrival times of one request's attempts
            for key in firsts["cache_key"]:
                times = [s.t for s in seen if s.key == key]
                assert all(b - a >= RETRY_AFTER_S for a, b in pairwise(times)), times
        expected = TRANSPORT[kind]
    else:
        status, reason = ANSWERS[kind]
        # No transport retry (HTTP 200), exactly one re-ask per call, carrying the validation error.
        assert len(seen) == 4 and all(s.retry_count == 0 for s in seen)
        asks = [s for s in seen if s.key in set(firsts["cache_key"])]
        re_asks = [s for s in seen if s not in asks]
        assert len(asks) == 2 and len(re_asks) == 2
        assert list(calls["status"]) == [status] * 4 and list(calls["attempt"]) == [1, 2, 1, 2]
        assert all(reason in error for error in firsts["error"])
        received = sorted((s.task, s.last_user_text.split(". Reply again")[0]) for s in re_asks)
        assert received == sorted(
            (t, f"Your answer was rejected: {e}") for t, e in zip(firsts["task"], firsts["error"], strict=True)
        )
        expected = f"{status} answer, asked twice (one re-ask): {reason}"
    failures = query(home, "select asset, message from failures where video_id = ? order by asset", [vid])
    assert list(failures["asset"]) == ["anchors", "residuals"]
    for asset, message in zip(failures["asset"], failures["message"], strict=True):
        assert message.startswith(f"ModelCallError: {vid}/{asset}: 1 of 1 ") and expected in message, message
    assert expected in outcome.error
    # Never a silently empty caption: no caption table has a row for the video.
    assert not any(Lake(home).exists(table, vid) for table in CHAIN)
    status = partition_status(defs, world.instance, Lake(home), [vid])[vid]
    assert [status[a] for a in CHAIN] == ["failed", "failed", "missing", "missing", "missing"]
    print(f"\n{kind}: {len(seen)} requests; failures: {failures['message'].iloc[0]}")


def run_chain(home: Path, mp: pytest.MonkeyPatch, url: str) -> tuple[list, dg.DagsterInstance]:
    instance = use_home(mp, home)
    mp.setenv("LOOPBACK_URL", url)
    defs = build_definitions("loopback", str(home))
    ids = instance.get_dynamic_partitions("videos")
    keys = expand_selection(defs, ["videos", "segments", *CHAIN])
    return materialize_many(defs, instance, {v: keys for v in ids}, Lake(home)), instance


def register_videos(home: Path, paths: list[str]) -> list[str]:
    instance = dg.DagsterInstance.get()
    ids = [Registry(home).register(p)[0].video_id for p in paths]
    add_partitions(instance, ids)
    return ids


def tables(home: Path) -> dict[str, pd.DataFrame]:
    out = {}
    for table in CHAIN:
        frame = Lake(home).read_all(table).drop(columns=["version"], errors="ignore")
        out[table] = frame.sort_values(KEYS[table]).reset_index(drop=True)
    return out


@pytest.mark.slow
def test_random_faults_then_recovery_completes_every_video_once(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CODECVDC_PROJECT_DIR", str(loopback_project(tmp_path / "project")))
    monkeypatch.delenv("CODECVDC_PROFILE", raising=False)
    monkeypatch.setenv("LOOPBACK_KEY", "sk-test-faults")
    monkeypatch.setenv("LOOPBACK_TIMEOUT_S", "10")  # a slow answer on a busy machine must not look like a fault
    monkeypatch.setenv("LOOPBACK_RETRIES", str(RETRIES))
    made = write_clip(str(tmp_path / "cuts.mp4"), 4.0, fps=10, width=160, height=120, cuts_s=(2.0,), keyint=10)
    paths = [shared("counter.mp4"), shared("bikes.mp4"), made]
    faulty, clean = tmp_path / "faulty", tmp_path / "clean"

    # The reference: the same videos against a fault-free endpoint.
    with LoopbackServer() as server:
        use_home(monkeypatch, clean)
        ids = register_videos(clean, paths)
        reference, _ = run_chain(clean, monkeypatch, server.base_url)
    assert all(o.ok for o in reference), [o.error for o in reference]

    plan = FaultPlan(fault_rate=0.3, faults=FAULTS, seed=7, retry_after_s=0.2, hang_s=12)
    with LoopbackServer(plan) as server:
        use_home(monkeypatch, faulty)
        assert register_videos(faulty, paths) == ids
        first, instance = run_chain(faulty, monkeypatch, server.base_url)
        injected = {k: v for k, v in plan.stats.items() if k not in ("ok", "requests")}
        first_requests = plan.stats["requests"]
        plan.update(fault_rate=0.0)  # the endpoint recovers
        second, _ = run_chain(faulty, monkeypatch, server.base_url)
    assert sum(injected.values()) > 0.15 * first_requests  # the faults really happened
    assert all(o.ok for o in second), [o.error for o in second]
    assert sorted(o.video_id for o in second) == sorted(ids)
    assert query(faulty, "select count(*) as n from failures")["n"][0] == 0

    # No duplicate rows in any table.
    for table, key in KEYS.items():
        cols = ", ".join(key)
        dup = query(faulty, f"select count(*) - count(distinct ({cols})) as n from {table}")["n"][0]
        assert dup == 0, table
    # No successful call made twice: every request answered `ok` by the server has its own key, and
    # the second run's successful calls are new keys only (the rest are cache hits).
    ok_keys = Counter(s.key for s in plan.log if s.outcome == "ok")
    assert max(ok_keys.values()) == 1
    calls = query(faulty, "select run_id, cache_key, status, cache_hit, http_attempts from model_calls")
    second_runs = {o.run_id for o in second}
    paid = calls[(calls["status"] == "ok") & ~calls["cache_hit"]]
    assert paid["cache_key"].is_unique
    again = calls[calls["run_id"].isin(second_runs)]
    assert again["cache_hit"].sum() > 0 and (again[~again["cache_hit"]]["status"] == "ok").all()
    # The tables equal the fault-free run's.
    for table, frame in tables(faulty).items():
        pd.testing.assert_frame_equal(frame, tables(clean)[table], check_like=True, obj=table)
    print(
        f"\n30 % faults: {len(ids)} videos, run 1: {sum(o.ok for o in first)}/{len(first)} ok, "
        f"{first_requests} requests, injected {injected}; run 2: {sum(o.ok for o in second)}/{len(second)} ok, "
        f"{plan.stats['requests'] - first_requests} requests, {int(again['cache_hit'].sum())} cache hits; "
        f"max transport attempts {int(calls['http_attempts'].max())}; duplicates 0; repeated successful calls 0"
    )
