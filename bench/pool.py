"""Suite `pool` (issue #23): a CodecVDC-100K-sized pool through Dagster runs.

One home whose pool grows between rounds (1K, 10K, 118,257 registered videos; BENCH_POOL_SIZES changes it;
--quick: 1K and 10K): 25 generated tiny clips added with the registry, the rest synthetic partitions
registered directly on the SQLite instance (the instance and registry are kept between rounds, as the issue
allows). Per round: one 25-video run of `videos` and one of the whole chain (the CLI's in-process path),
each timed and counted in SQL statements and key loads (tests/support/query_counter.py); `codecvdc run --stale`
(a real process) from start to its first video line, then interrupted; `codecvdc status`; a `stale_assets`
tick and a `caption_backfill` tick (evaluated in process, as the daemon's code server does). Load averages
beside each figure: the machine is shared.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import report

SUITE = "pool"
CLIPS = 25
FULL = 118_257


def _counter():
    """tests/support/query_counter.py's QueryCounter (the tests count the same way)."""
    tests = str(Path(__file__).parents[1] / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    from support.query_counter import QueryCounter

    return QueryCounter


def _load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def _grow(instance, size: int) -> None:
    have = len(instance.get_dynamic_partitions("videos"))
    if have < size:  # synthetic keys before nothing: appended, so the clips stay inside the pool's order
        instance.add_dynamic_partitions("videos", [f"pool-{i:06d}-0123456789" for i in range(have, size)])


def _timed_run(defs, instance, lake, ids, keys, counter):
    from codecvdc_assets.runs.execute import materialize_many

    with counter() as counts:
        started, cpu = time.perf_counter(), time.process_time()
        outcomes = materialize_many(defs, instance, {v: keys for v in ids}, lake, batch_size=CLIPS)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    failed = [o for o in outcomes if not o.ok]
    if failed:
        raise RuntimeError(f"{len(failed)} videos failed: {failed[0].error}")
    counts.cpu_s = cpu  # this process's CPU time: what the run computed, not the disk's or other agents' waits
    return seconds, counts


def _stale_first_run(home: Path, instance) -> tuple[float, float]:
    """`codecvdc run --stale --select videos` (a real process): seconds from its start until its first run
    exists in the instance (planning done) and until its first video line (that run done); then SIGINT."""
    import dagster as dg

    env = dict(os.environ, CODECVDC_HOME=str(home))
    env.pop("DAGSTER_HOME", None)
    before = {r.run_id for r in instance.get_runs(dg.RunsFilter(), limit=5)}
    first_run = None
    with tempfile.TemporaryFile("w+") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "codecvdc_assets.cli", "run", "--stale", "--select", "videos"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            while True:
                if first_run is None and {r.run_id for r in instance.get_runs(dg.RunsFilter(), limit=5)} - before:
                    first_run = time.perf_counter() - started
                out.seek(0)
                if " videos 1/" in out.read():
                    return first_run or time.perf_counter() - started, time.perf_counter() - started
                if proc.poll() is not None or time.perf_counter() - started > 900:
                    out.seek(0)
                    raise RuntimeError(f"run --stale printed no video line: {out.read()[-500:]}")
                time.sleep(0.1)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def main(quick: bool = False) -> int:
    import dagster as dg

    from bench.orchestration import make_clips
    from codecvdc_assets.cli import main as cli
    from codecvdc_assets.definitions import build_definitions
    from codecvdc_assets.defs.sensors import VIDEOS_PER_TICK
    from codecvdc_assets.runs.instance import add_partitions, get_instance
    from codecvdc_assets.runs.selection import expand_selection
    from codecvdc_assets.settings import dagster_home
    from codecvdc_assets.storage.lake import Lake
    from codecvdc_assets.storage.registry import Registry

    counter = _counter()
    default = "1000,10000" if quick else f"1000,10000,{FULL}"
    sizes = [int(s) for s in os.environ.get("BENCH_POOL_SIZES", default).split(",")]
    base = Path(os.environ.get("BENCH_TMP", tempfile.gettempdir()))
    per_run: dict[int, tuple[float, int, float, int]] = {}
    with tempfile.TemporaryDirectory(prefix="codecvdc-poolbench-", dir=base) as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        os.environ["CODECVDC_HOME"] = str(home)
        os.environ.pop("CODECVDC_PROFILE", None)
        dagster_home(home)
        paths = make_clips(Path(tmp) / "clips", CLIPS)
        registry = Registry(home)
        ids = [registry.register(p)[0].video_id for p in paths]
        instance = get_instance()
        add_partitions(instance, ids)
        defs = build_definitions(home=str(home))
        lake = Lake(home)
        videos_keys = expand_selection(defs, ["videos"])
        chain_keys = expand_selection(defs, None)  # every asset: the 14 per-video ones and the dataset-level
        _timed_run(defs, instance, lake, ids, chain_keys, counter)  # warm-up: the model cache, imports
        for size in sizes:
            _grow(instance, size)
            pool = len(instance.get_dynamic_partitions("videos"))
            label = f"{pool:,} videos"
            v_s, v_c = _timed_run(defs, instance, lake, ids, videos_keys, counter)
            v_load = _load()
            c_s, c_c = _timed_run(defs, instance, lake, ids, chain_keys, counter)
            c_load = _load()
            per_run[size] = (v_s, v_c.statements, c_s, c_c.statements, v_c.cpu_s, c_c.cpu_s)
            print(f"  pool {label}: videos run {v_s:.1f} s, chain run {c_s:.1f} s ({c_load})", flush=True)
            report.add(
                SUITE,
                f"{label}: one 25-video run of `videos`",
                f"{v_s:.1f} s ({v_c.cpu_s:.1f} s CPU), {v_c.statements} SQL statements, {v_c.key_loads} key loads "
                f"({v_c.key_calls} key calls) ({v_load})",
            )
            report.add(
                SUITE,
                f"{label}: one 25-video run of the whole chain",
                f"{c_s:.1f} s ({c_c.cpu_s:.1f} s CPU), {c_c.statements} SQL statements, {c_c.key_loads} key loads "
                f"({c_c.key_calls} key calls) ({c_load})",
            )
            first, line = _stale_first_run(home, instance)
            report.add(
                SUITE,
                f"{label}: `run --stale` (a new process) to its first run",
                f"{first:.1f} s; first video line after {line:.1f} s ({_load()})",
                "<= 15 s",
                "",
                first <= 15 if size == FULL else None,
            )
            with counter() as counts, contextlib.redirect_stdout(io.StringIO()):
                started = time.perf_counter()
                cli(["status"])
                status_s = time.perf_counter() - started
            report.add(SUITE, f"{label}: `status`", f"{status_s:.1f} s, {counts.statements} SQL statements ({_load()})")
            lake_resource = {"lake": defs.resources["lake"]}
            sensor = defs.get_sensor_def("stale_assets")
            context = dg.build_sensor_context(instance=instance, cursor=None, resources=lake_resource)
            with counter() as counts:
                started = time.perf_counter()
                result = sensor(context)
                tick_s = time.perf_counter() - started
            covered = int(result.cursor)
            rate = covered / max(60.0, tick_s)  # the sensor's 60 s interval, or the tick itself if longer
            report.add(
                SUITE,
                f"{label}: `stale_assets` tick",
                f"{tick_s:.1f} s for {covered:,} videos, {len(result.run_requests)} run requests, "
                f"{counts.statements} SQL statements ({_load()}); {rate:.0f} videos/s at the 60 s interval",
                "< 60 s, >= 40 videos/s",
                "",
                tick_s < 60 and rate >= 40 if pool >= VIDEOS_PER_TICK else None,  # (a small pool caps the rate)
            )
            schedule = defs.get_schedule_def("caption_backfill")
            context = dg.build_schedule_context(instance=instance, resources=lake_resource)
            with counter() as counts:
                started = time.perf_counter()
                requests = list(schedule(context))
                tick_s = time.perf_counter() - started
            videos = sum(int(r.tags.get("codecvdc/videos", 0)) for r in requests)
            report.add(
                SUITE,
                f"{label}: `caption_backfill` tick",
                f"{tick_s:.1f} s for {videos:,} videos, {len(requests)} run requests, {counts.statements} "
                f"SQL statements ({_load()})",
                "< 60 s",
                "",
                tick_s < 60,
            )
    for size in sizes if os.environ.get("BENCH_POOL_BACKFILL", "1") == "1" else []:
        backfill_round(size)
    small, big = min(per_run), max(per_run)
    if small != big:
        for name, i, j in (("`videos`", 0, 4), ("whole chain", 2, 5)):
            ratio = per_run[big][i] / per_run[small][i]
            cpu = per_run[big][j] / per_run[small][j]
            statements = per_run[big][i + 1] / per_run[small][i + 1]
            report.add(
                SUITE,
                f"per-run cost, {name}: {big:,} vs {small:,} videos",
                f"{cpu:.2f}x CPU time, {statements:.2f}x SQL statements, {ratio:.2f}x wall time (disk and load noise)",
                "<= 1.2x",
                f"{cpu:.2f}x",
                cpu <= 1.2,
            )
    return 0


BACKFILL = """
mutation Backfill($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }
"""
CANCEL = """
mutation Cancel($id: String!) { cancelPartitionBackfill(backfillId: $id) {
  __typename ... on PythonError { message } } }
"""
BACKFILL_STATUS = (
    "query S($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status } } }"
)
PARTITIONS = """
{ assetNodeOrError(assetKey: {path: ["videos"]}) { ... on AssetNode {
  partitionKeysByDimension { partitionKeys } assetPartitionStatuses { __typename } } } }
"""


def backfill_round(size: int, window_s: float = 240.0) -> None:
    """A UI backfill of `videos` over a pool of `size` synthetic partitions, through `codecvdc ui` (webserver
    and daemon) and its GraphQL API: runs the backfill daemon creates per minute (the run queue paused:
    max_concurrent_runs 0, so only submission is measured), the time to submit the whole pool at that rate,
    how long a cancel takes to settle, and the UI's partitions query."""
    import math

    import dagster as dg
    import yaml

    _counter()  # tests/ on the path
    from support.dagster_live import PROJECT, codecvdc_ui

    from codecvdc_assets.settings import dagster_home, load_profile

    base = Path(os.environ.get("BENCH_TMP", tempfile.gettempdir()))
    with tempfile.TemporaryDirectory(prefix="codecvdc-poolbackfill-", dir=base) as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        settings = yaml.safe_load((PROJECT / "resources" / "dagster.yaml").read_text())
        settings["run_queue"] = {"max_concurrent_runs": 0}  # runs stay queued: submission alone is timed
        instance_yaml = Path(tmp) / "dagster.yaml"
        instance_yaml.write_text(yaml.safe_dump(settings))
        os.environ["CODECVDC_HOME"], os.environ["CODECVDC_DAGSTER_YAML"] = str(home), str(instance_yaml)
        try:
            dagster_home(home)
            with dg.DagsterInstance.get() as instance:
                instance.add_dynamic_partitions("videos", [f"pool-{i:06d}-0123456789" for i in range(size)])
            per_run = int((load_profile().get("automation") or {}).get("backfill_batch_size", 100))
            profile = PROJECT / "resources" / "embedded.yaml"
            with codecvdc_ui(PROJECT, home, profile, Path(tmp) / "ui.log", instance_yaml) as live:
                started = time.perf_counter()
                live.graphql(PARTITIONS, timeout_s=300)
                query_s = time.perf_counter() - started
                params = {"assetSelection": [{"path": ["videos"]}], "allPartitions": True}
                launched = live.graphql(BACKFILL, {"params": params})["launchPartitionBackfill"]
                if launched["__typename"] != "LaunchBackfillSuccess":
                    raise RuntimeError(f"backfill not launched: {launched}")
                backfill_id = launched["backfillId"]
                total = math.ceil(size / per_run)
                started = time.perf_counter()
                with dg.DagsterInstance.get() as instance:
                    runs = 0
                    while time.perf_counter() - started < window_s and runs < total:
                        time.sleep(5)
                        runs = instance.get_runs_count(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
                elapsed = time.perf_counter() - started
                load = _load()
                live.graphql(CANCEL, {"id": backfill_id})
                cancel_started = time.perf_counter()
                status = ""
                while time.perf_counter() - cancel_started < 300:
                    status = live.graphql(BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]["status"]
                    if status not in ("REQUESTED", "CANCELING"):
                        break
                    time.sleep(2)
                cancel_s = time.perf_counter() - cancel_started
        finally:
            os.environ.pop("CODECVDC_DAGSTER_YAML", None)
    per_min = runs / elapsed * 60
    minutes = total / per_min if per_min else float("inf")
    label = f"{size:,} videos"
    report.add(
        SUITE,
        f"{label}: UI backfill of `videos`, runs of {per_run}",
        f"{runs} of {total} runs submitted in {elapsed:.0f} s: {per_min:.0f} runs/min, whole pool in "
        f"{minutes:.0f} min ({load})",
        "<= 30 min",
        "",
        minutes <= 30 if size >= FULL else None,
    )
    report.add(
        SUITE,
        f"{label}: cancelling that backfill",
        f"{status} after {cancel_s:.0f} s",
        "<= 60 s",
        "",
        status == "CANCELED" and cancel_s <= 60 if size >= FULL else None,
    )
    report.add(SUITE, f"{label}: UI partitions query of `videos`", f"{query_s:.1f} s ({_load()})")
