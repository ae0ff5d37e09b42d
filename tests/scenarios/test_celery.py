"""The celery profile across "hosts": Redis, PostgreSQL and an S3 API (moto) started here; two
`codecvdc worker` processes, each in its own network namespace with its own hostname and $CODECVDC_HOME
where `ip netns` works (else two plain processes); `codecvdc run --profile celery` coordinates from a
third home. Checks: every per-video asset, tables equal to an in-process run's, model calls and lake
files made by both workers and never by the coordinator, the catalog reading the S3 lake, and a worker
killed with SIGKILL in the middle of a step."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pyarrow.parquet as pq
import pytest
from support.paths import PROJECT, shared
from support.services import Hosts, start_hosts, start_postgres, start_redis, start_s3, stop_group

from codecvdc_assets.cli import main as cli
from codecvdc_assets.models.calls import CallJournal, recover_journals, write_model_calls
from codecvdc_assets.models.types import CallRecord
from codecvdc_assets.runs.workers import worker_argv, write_worker_config
from codecvdc_assets.settings import dagster_home, load_profile
from codecvdc_assets.storage.lake import Lake
from codecvdc_assets.storage.provenance import PARQUET_KEY, worker_identity
from codecvdc_assets.video.synthetic import write_clip

BUCKET = "codecvdc-celery"
PREFIX = "cluster"
WORKERS = ["worker-a", "worker-b"]
# Columns that differ between two runs of the same input by nature (test_s3.py's, and the worker).
VOLATILE = {"path", "run_id", "recorded_at", "failed_at", "latency_s", "cache_hit", "endpoint", "worker"}
PER_VIDEO = [
    "videos",
    "segments",
    "frames",
    "anchors",
    "residuals",
    "evidence",
    "scene_narratives",
    "video_narratives",
    "direct_captions",
    "per_second_captions",
    "vidcapqa_answers",
]
CALL_DELAY_S = 0.4
VISIBILITY_S = 45  # a killed worker's step goes back to the queue after this (longer than any step here)


@dataclass
class Cluster:
    hosts: Hosts
    env: dict[str, str]
    base: Path
    s3: object
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)

    def home(self, name: str) -> Path:
        return self.base / f"home-{name}"

    def log(self, name: str) -> Path:
        return self.base / f"{name}.log"

    def start_worker(self, name: str) -> None:
        log = self.log(name)
        offset = log.stat().st_size if log.exists() else 0
        argv = [*self.hosts.prefix(name), codecvdc(), "worker", "--concurrency", "1"]
        with open(log, "ab") as out:
            self.workers[name] = subprocess.Popen(
                argv, env=self.env_for(name), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 180
        while b"ready." not in log.read_bytes()[offset:]:
            if self.workers[name].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)

    def kill_worker(self, name: str) -> None:
        """SIGKILL the worker's whole process group (the main process and its pool): a lost host."""
        os.killpg(self.workers[name].pid, signal.SIGKILL)
        self.workers[name].wait(timeout=30)

    def env_for(self, name: str) -> dict[str, str]:
        return {**self.env, "CODECVDC_HOME": str(self.home(name))}

    def cli(self, *args: str, home: str = "coordinator", timeout: float = 600, **extra: str):
        proc = subprocess.Popen(
            [codecvdc(), *args],
            env={**self.env_for(home), **extra},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        finally:
            if proc.poll() is None:
                stop_group(proc)
        return proc.returncode, out, err, proc.pid

    def sql(self, query: str, home: str = "coordinator", **extra: str) -> list[dict]:
        code, out, err, _ = self.cli("sql", query, "--format", "json", home=home, **extra)
        assert code == 0, err
        return json.loads(out)


def codecvdc() -> str:
    return str(PROJECT / ".venv" / "bin" / "codecvdc")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    base = tmp_path_factory.mktemp("celery")
    with (
        start_hosts(WORKERS) as hosts,
        start_postgres(base, hosts.address) as pg,
        start_redis(base, hosts.address) as redis,
        start_s3(base, hosts.address) as s3,
    ):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CODECVDC_", "DAGSTER_", "AWS_"))}
        env.update(
            {
                **pg.env(),
                "CODECVDC_PROFILE": "celery",
                "CODECVDC_CELERY_BROKER": redis.db_url(0),
                "CODECVDC_CELERY_BACKEND": redis.db_url(1),
                "CODECVDC_CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_S),
                "CODECVDC_CELERY_RESTORE_INTERVAL": "1",
                # Every embedded call takes this long, so a step with several calls (residuals: a call per
                # window, two at a time) is still making calls for a while after its first one is journaled.
                "CODECVDC_EMBEDDED_DELAY_S": str(CALL_DELAY_S),
                "CODECVDC_S3_ENDPOINT_URL": s3.url,
                "CODECVDC_S3_BUCKET": BUCKET,
                "CODECVDC_S3_PREFIX": PREFIX,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_REGION": "us-east-1",
                "AWS_DEFAULT_REGION": "us-east-1",
            }
        )
        s3_client(s3.url).create_bucket(Bucket=BUCKET)
        found = Cluster(hosts, env, base, s3)
        try:
            for name in WORKERS:
                found.start_worker(name)
            yield found
        finally:
            for proc in found.workers.values():
                if proc.poll() is None:
                    stop_group(proc)


def s3_client(url: str):
    return boto3.client(
        "s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def lake_objects(cluster: Cluster) -> list[str]:
    """The lake's data files: not the checksum records under `_integrity/` (storage/integrity.py)."""
    client = s3_client(cluster.s3.url)
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{PREFIX}/lake/")
    keys = [o["Key"] for p in pages for o in p.get("Contents", [])]
    return [k for k in keys if not k.startswith(f"{PREFIX}/lake/_integrity/")]


def worker_hosts_and_pids(cluster: Cluster) -> set[str]:
    """host:pid of every process of the workers (main and pool), for the plain-process fallback."""
    pids: set[int] = set()
    for proc in cluster.workers.values():
        pids |= {proc.pid, *_descendants(proc.pid)}
    return {f"{socket.gethostname()}:{pid}" for pid in pids}


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, stack = set(), [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


def rows_without_volatile(rows: list[dict]) -> list[str]:
    return sorted(json.dumps({k: v for k, v in r.items() if k not in VOLATILE}, sort_keys=True) for r in rows)


@pytest.fixture(scope="module")
def four_videos(cluster: Cluster) -> list[str]:
    clips = cluster.base / "clips"
    clips.mkdir()
    paths = [
        shared("counter.mp4"),
        shared("bigbuckbunny.mp4"),
        write_clip(str(clips / "two cuts.mp4"), 3.0, fps=10, width=160, height=120, cuts_s=(1.0, 2.0)),
        write_clip(str(clips / "pan.mp4"), 2.5, fps=10, width=192, height=144, cuts_s=(1.2,), keyint=5),
    ]
    code, out, err, _ = cluster.cli("add", *paths)
    assert code == 0, err
    return paths


def views_as_json(argv_env: dict[str, str], views: list[str]) -> dict[str, list[dict]]:
    """Every view's rows from one `codecvdc sql -f` call (one JSON line per statement)."""
    script = Path(argv_env["CODECVDC_HOME"]).with_suffix(".views.sql")
    script.write_text("".join(f"select * from {v};\n" for v in views))
    done = subprocess.run(
        [codecvdc(), "sql", "-f", str(script), "--format", "json"], env=argv_env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert len(lines) == len(views), done.stdout[:500]
    return {v: json.loads(line) for v, line in zip(views, lines, strict=True)}


@pytest.mark.slow
def test_run_puts_every_step_on_the_workers(cluster: Cluster, four_videos: list[str], tmp_path: Path) -> None:
    # The reference: the same videos in-process on one machine with a local lake, run meanwhile (the
    # coordinator below only waits for the workers).
    env = {k: v for k, v in cluster.env.items() if not k.startswith(("CODECVDC_", "DAGSTER_PG"))}
    local = {**env, "CODECVDC_PROFILE": "embedded", "CODECVDC_HOME": str(tmp_path / "local")}
    quoted = " ".join(f"'{p}'" for p in four_videos)
    reference = subprocess.Popen(
        ["sh", "-c", f"'{codecvdc()}' add {quoted} && '{codecvdc()}' run"],
        env=local,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        code, out, err, coordinator_pid = cluster.cli("run", timeout=900)
        assert code == 0, out + err[-4000:]
        assert "done: 4 video(s) ok, 0 failed" in out, out
        reference_out, _ = reference.communicate(timeout=900)
        assert reference.returncode == 0, reference_out[-3000:]
    finally:
        if reference.poll() is None:
            stop_group(reference)

    # Every per-video asset of every video is fresh in the shared (Postgres) instance.
    code, status, err, _ = cluster.cli("status", "--json")
    assert code == 0, err
    table = json.loads(status)["videos"]
    assert len(table) == 4 and all(s == "fresh" for row in table.values() for s in row.values()), table

    # The coordinator's catalog reads the S3 lake the workers wrote (nothing of it under any local home),
    # and every per-video table equals the in-process run's.
    views = views_as_json(cluster.env_for("coordinator"), [*PER_VIDEO, "model_calls"])
    for name in ["coordinator", *WORKERS]:
        assert not (cluster.home(name) / "lake").exists()
    assert len({r["video_id"] for r in views["residuals"]}) == 4
    expected = views_as_json(local, PER_VIDEO)
    for view in PER_VIDEO:
        assert views[view], view
        assert rows_without_volatile(views[view]) == rows_without_volatile(expected[view]), view

    # Model calls: both workers made some, the coordinator none (on its host, by its pid).
    calls = views["model_calls"]
    assert calls and all(r["status"] == "ok" for r in calls)
    workers = {r["worker"] for r in calls}
    coordinator = f"{socket.gethostname()}:{coordinator_pid}"
    assert coordinator not in workers
    if cluster.hosts.isolated:
        assert {w.split(":")[0] for w in workers} == set(WORKERS), workers
    else:
        assert workers <= worker_hosts_and_pids(cluster), workers
        assert len(workers) >= 2, workers

    # Every lake file of a video names the worker that wrote it in its Parquet metadata.
    client = s3_client(cluster.s3.url)
    writers = set()
    keys = [k for k in lake_objects(cluster) if "/video_id=" in k]
    assert keys
    for key in keys:
        body = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        writers.add(pq.read_schema(io.BytesIO(body)).metadata[PARQUET_KEY].decode())
    assert coordinator not in writers
    if cluster.hosts.isolated:
        assert {w.split(":")[0] for w in writers} == set(WORKERS), writers


@pytest.mark.slow
def test_a_run_of_the_code_location_uses_the_workers(cluster: Cluster, four_videos: list[str]) -> None:
    """What the UI's and the daemon's runs execute: the code location's own job (workspace.yaml loads the
    same module), run by `dagster asset materialize` here; its executor is the profile's, so the step goes
    to a worker, which rebuilds the job from the code location."""
    (video_id,) = [r["video_id"] for r in cluster.sql("select video_id from videos order by video_id limit 1")]
    key = f"{PREFIX}/lake/videos/video_id={video_id}/data.parquet"
    client = s3_client(cluster.s3.url)
    client.delete_object(Bucket=BUCKET, Key=key)  # so the file seen after the run is this run's
    env = {**cluster.env_for("coordinator"), "DAGSTER_HOME": str(cluster.home("coordinator") / "dagster")}
    argv = [str(Path(codecvdc()).with_name("dagster")), "asset", "materialize", "-m", "codecvdc_assets.definitions"]
    done = subprocess.run(
        [*argv, "--select", "videos", "--partition", video_id], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    body = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    writer = pq.read_schema(io.BytesIO(body)).metadata[PARQUET_KEY].decode()
    if cluster.hosts.isolated:
        assert writer.split(":")[0] in WORKERS, writer
    else:
        assert writer in worker_hosts_and_pids(cluster), writer
    assert "Submitting celery task" in done.stderr + done.stdout, done.stderr[-2000:]


def journaled_assets(home: Path) -> list[str]:
    """The asset of every call record in a home's open model-call journals (steps making calls right now)."""
    assets = []
    for path in (home / "journal" / "model_calls").glob("*.jsonl"):
        with contextlib.suppress(OSError):  # committed (and removed) between the listing and the read
            for line in path.read_text().splitlines()[1:]:  # the first line is the journal's header
                with contextlib.suppress(ValueError):  # a line being written
                    assets.append(json.loads(line).get("asset"))
    return assets


@pytest.mark.slow
def test_a_worker_killed_mid_step(cluster: Cluster) -> None:
    # A longer clip so that the caption steps take a few seconds on a worker.
    (cluster.base / "clips").mkdir(exist_ok=True)
    clip = write_clip(
        str(cluster.base / "clips" / "long shots.mp4"), 8.0, fps=10, width=224, height=160, cuts_s=(3.0, 6.0)
    )
    code, out, err, _ = cluster.cli("add", clip)
    assert code == 0, err
    video_id = out.split()[1]
    proc = subprocess.Popen(
        [codecvdc(), "run", "--video", video_id],
        env=cluster.env_for("coordinator"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        # Kill whichever worker is in the middle of the residuals step, at its first journaled call: that step
        # makes a call per window of each of the clip's three scenes, two at a time, so a call of CALL_DELAY_S
        # is still to come and the step cannot commit (leaving nothing to recover) between this check and the
        # SIGKILL, as a one-call step could (1 failure in 4 runs when the kill waited for any call).
        victim, deadline = None, time.monotonic() + 300
        while victim is None and time.monotonic() < deadline and proc.poll() is None:
            victim = next((n for n in WORKERS if "residuals" in journaled_assets(cluster.home(n))), None)
            time.sleep(0.02)
        assert victim, "no worker was seen in the middle of a step"
        cluster.kill_worker(victim)
        survivor = next(n for n in WORKERS if n != victim)
        out, err = proc.communicate(timeout=VISIBILITY_S + 400)
    finally:
        if proc.poll() is None:
            stop_group(proc)
    # The step went back to the queue and the survivor finished the run, or the run says what failed.
    assert proc.returncode == 0 or "FAILED" in out, out + err[-3000:]

    # The killed worker's host starts a worker again: its journal of the killed step becomes model_calls rows.
    cluster.start_worker(victim)
    assert "recovered" in cluster.log(victim).read_text(), "the killed step's call records were not recovered"
    code, out, err, _ = cluster.cli("run", "--stale", timeout=900)
    assert code == 0, out + err[-3000:]
    code, status, err, _ = cluster.cli("status", "--json", "--video", video_id)
    assert all(s == "fresh" for s in json.loads(status)["videos"][video_id].values())

    # No successful call was paid twice (the repeat found them in the S3 call cache); the survivor worked.
    paid = cluster.sql(
        "select cache_key, count(*) as n from model_calls where not cache_hit and status = 'ok' group by cache_key"
    )
    assert paid and all(r["n"] == 1 for r in paid), [r for r in paid if r["n"] > 1][:5]
    mine = cluster.sql(f"select distinct worker from model_calls where video_id = '{video_id}'")
    hosts = {r["worker"].split(":")[0] for r in mine}
    if cluster.hosts.isolated:
        assert survivor in hosts and victim in hosts, hosts

    # No partial file is visible: every lake object is a whole Parquet file.
    client = s3_client(cluster.s3.url)
    for key in lake_objects(cluster):
        assert key.endswith(".parquet"), key
        pq.read_metadata(io.BytesIO(client.get_object(Bucket=BUCKET, Key=key)["Body"].read()))
    for name in WORKERS:
        assert not list((cluster.home(name) / "journal" / "model_calls").glob("*.jsonl")), name


def test_worker_refuses_a_profile_without_celery(capsys, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CODECVDC_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CODECVDC_PROFILE", "embedded")  # restored after the test (cli() sets it)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert cli(["worker", "--profile", "embedded"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has no celery executor" in err and "--profile celery" in err


def test_the_profile_and_the_worker_config(tmp_path: Path, monkeypatch) -> None:
    from dagster_celery.cli import get_validated_config

    monkeypatch.setenv("CODECVDC_CELERY_BROKER", "redis://10.0.0.5:6379/0")
    monkeypatch.setenv("CODECVDC_S3_BUCKET", "b")
    profile = load_profile("celery")
    assert profile["executor"]["kind"] == "celery" and profile["storage"]["url"] == "s3://b/codecvdc"
    config = write_worker_config(profile, tmp_path)
    # dagster-celery's worker reads it as its executor config: the same broker as the coordinator's.
    validated = get_validated_config(str(config))
    assert validated["broker"] == "redis://10.0.0.5:6379/0"
    assert validated["config_source"]["task_acks_late"] is True
    assert validated["config_source"]["broker_transport_options"]["visibility_timeout"] == 7200
    argv = worker_argv(config, "gpu", 3, "w1@%h", "INFO")
    assert argv[1:6] == ["-m", "dagster_celery.cli", "worker", "start", "-A"] and argv[9:11] == ["-q", "gpu"]
    assert argv[argv.index("--") + 1 : argv.index("--") + 3] == ["--concurrency", "3"]

    # The profile's instance file becomes the Dagster home's (CODECVDC_DAGSTER_YAML still wins).
    monkeypatch.setenv("CODECVDC_PROFILE", "celery")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))  # restored after the test (dagster_home sets it)
    monkeypatch.delenv("CODECVDC_DAGSTER_YAML", raising=False)
    assert "postgres:" in (dagster_home(tmp_path / "h") / "dagster.yaml").read_text()
    monkeypatch.setenv("CODECVDC_DAGSTER_YAML", "resources/dagster.yaml")
    assert "postgres:" not in (dagster_home(tmp_path / "h") / "dagster.yaml").read_text()


def test_call_records_and_lake_files_name_their_process(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    fields = dict(task="anchor", backend="embedded", model="m", endpoint="", prompt_tokens=1, completion_tokens=2)
    fields |= dict(latency_s=0.1, status="ok", cache_hit=False, cache_key="k")
    write_model_calls(lake, [CallRecord(video_id="clip-0123456789", asset="anchors", **fields)], "run1")
    (path,) = (tmp_path / "lake" / "model_calls" / "video_id=clip-0123456789").glob("*.parquet")
    me = f"{socket.gethostname()}:{os.getpid()}"
    assert worker_identity() == me
    assert pq.read_schema(path).metadata[PARQUET_KEY].decode() == me
    assert pq.read_table(path).column("worker").to_pylist() == [me]
    # A journal recovered by another process keeps the identity of the process that made the call.
    journal = CallJournal(lake, "run2")
    journal.append(CallRecord(video_id="clip-0123456789", asset="residuals", worker="host-b:4242", **fields))
    journal._fh.close()  # the step's process died: its lock is gone, the journal stays
    journal._fh = None
    assert recover_journals(lake) == 1
    rows = lake.read_all("model_calls")
    assert sorted(rows["worker"]) == sorted([me, "host-b:4242"])
