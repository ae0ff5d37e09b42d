"""Live Dagster for tests: `codecvdc ui` (dagster dev: webserver + daemon) on a copy of the project,
driven through the webserver's GraphQL API the way the UI drives it. Every wait is bounded; every
process started here is ended (the ui's process group and the group it gives dagster dev)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from codecvdc_assets.runs.process_group import end_group
from support.paths import PROJECT
from support.services import free_port

REPOSITORY = "__repository__"  # the name Dagster gives the repository of a Definitions object


def copy_project(dest: Path) -> Path:
    """What a code location reads at run time (prompts, SQL, profiles, the workspace), editable by a test."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("prompts", "sql", "resources"):
        shutil.copytree(PROJECT / name, dest / name)
    shutil.copyfile(PROJECT / "workspace.yaml", dest / "workspace.yaml")
    return dest


def write_profile(path: Path, video_root: Path, automation: dict[str, Any], **sections: Any) -> Path:
    """A user's own profile file: the embedded models, one video root, fast automation."""
    profile = {"extends": "embedded", "video_roots": [str(video_root)], "automation": automation, **sections}
    path.write_text(yaml.safe_dump(profile))
    return path


def wait_for(what: str, check: Callable[[], Any], timeout_s: float, every_s: float = 1.0, log: Path | None = None):
    """Poll `check` until it returns something truthy; fail naming `what` (and the log's tail) on timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            tail = log.read_text()[-4000:] if log and log.exists() else ""
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}\n{tail}")
        time.sleep(every_s)


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (by parent id, /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                parents[int(entry)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    out = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            out.add(pid)
    return out


@dataclass
class LiveDagster:
    proc: subprocess.Popen
    port: int
    log: Path
    project: Path
    home: Path
    location: str = ""
    seen: set[int] = field(default_factory=set)  # every descendant pid observed, for the clean-up check

    # ------------------------------------------------------------------ GraphQL
    def graphql(self, query: str, variables: dict | None = None, timeout_s: float = 60) -> dict:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body = json.loads(response.read())
        if body.get("errors"):
            raise AssertionError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def selector(self, **names: str) -> dict:
        return {"repositoryLocationName": self.location, "repositoryName": REPOSITORY, **names}

    def remember_processes(self) -> None:
        self.seen |= descendants(self.proc.pid)

    # ------------------------------------------------------------------ location
    def location_state(self) -> tuple[str, str, str]:
        """(name, load status, type or error message) of the workspace's code location."""
        data = self.graphql(LOCATIONS)
        entries = data["workspaceOrError"].get("locationEntries") or []
        if not entries:
            return "", "", ""
        entry = entries[0]
        loaded = entry["locationOrLoadError"] or {}
        return entry["name"], entry["loadStatus"], loaded.get("message") or loaded.get("__typename", "")

    def wait_loaded(self, timeout_s: float = 180) -> None:
        def ready():
            self.check_running()
            try:
                name, status, kind = self.location_state()
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                return None
            if status == "LOADED" and kind != "RepositoryLocation":
                raise AssertionError(f"code location failed to load: {kind}")
            return name if status == "LOADED" else None

        self.location = wait_for("the code location to load", ready, timeout_s, log=self.log)
        self.remember_processes()

    def reload(self) -> None:
        """The UI's "Reload" button."""
        result = self.graphql(RELOAD, {"name": self.location})["reloadRepositoryLocation"]
        assert result["__typename"] == "WorkspaceLocationEntry", result
        self.wait_loaded()

    def check_running(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"codecvdc ui exited ({self.proc.returncode}): {self.log.read_text()[-4000:]}")

    # ------------------------------------------------------------------ sensors and schedules
    def set_sensor(self, name: str, running: bool) -> None:
        if running:
            out = self.graphql(START_SENSOR, {"selector": self.selector(sensorName=name)})["startSensor"]
            assert out.get("sensorState", {}).get("status") == "RUNNING", out
        else:
            sensor = self.graphql(SENSOR_TICKS, {"selector": self.selector(sensorName=name), "limit": 1})
            state = sensor["sensorOrError"]["sensorState"]
            out = self.graphql(STOP_SENSOR, {"id": state["id"], "selectorId": state["selectorId"]})
            assert out["stopSensor"]["__typename"] == "StopSensorMutationResult", out

    def set_schedule(self, name: str, running: bool) -> None:
        selector = self.selector(scheduleName=name)
        if running:
            out = self.graphql(START_SCHEDULE, {"selector": selector})["startSchedule"]
            assert out.get("scheduleState", {}).get("status") == "RUNNING", out
        else:
            state = self.graphql(SCHEDULE_TICKS, {"selector": selector, "limit": 1})["scheduleOrError"]
            out = self.graphql(STOP_SCHEDULE, {"id": state["scheduleState"]["id"]})
            assert out["stopRunningSchedule"]["__typename"] == "ScheduleStateResult", out

    def ticks(self, kind: str, name: str, limit: int = 200) -> list[dict]:
        """The ticks the daemon recorded for a sensor or a schedule, newest first."""
        if kind == "sensor":
            data = self.graphql(SENSOR_TICKS, {"selector": self.selector(sensorName=name), "limit": limit})
            return data["sensorOrError"]["sensorState"]["ticks"]
        data = self.graphql(SCHEDULE_TICKS, {"selector": self.selector(scheduleName=name), "limit": limit})
        return data["scheduleOrError"]["scheduleState"]["ticks"]

    def failed_ticks(self) -> list[str]:
        """Every errored tick of every sensor and schedule, as readable lines."""
        bad = []
        repo = self.graphql(INSTIGATORS, {"selector": self.selector()})["repositoryOrError"]
        for kind, items in (("sensor", repo["sensors"]), ("schedule", repo["schedules"])):
            for item in items:
                for tick in self.ticks(kind, item["name"]):
                    if tick["status"] == "FAILURE":
                        bad.append(f"{kind} {item['name']}: {(tick.get('error') or {}).get('message', '')[:500]}")
        return bad

    # ------------------------------------------------------------------ assets and runs
    def materialized(self, asset: str) -> set[str]:
        """Partitions of a per-video asset whose latest materialization succeeded."""
        node = self.graphql(PARTITION_STATUS, {"key": {"path": [asset]}})["assetNodeOrError"]
        return set((node.get("assetPartitionStatuses") or {}).get("materializedPartitions") or [])

    def materializations(self, asset: str, partitions: list[str] | None = None) -> list[dict]:
        """Materialization events of an asset (newest first), optionally of some partitions only."""
        data = self.graphql(MATERIALIZATIONS, {"key": {"path": [asset]}, "partitions": partitions})
        asset_data = data["assetOrError"]
        return asset_data.get("assetMaterializations") or [] if asset_data["__typename"] == "Asset" else []

    def latest(self, asset: str, partition: str | None = None) -> dict | None:
        events = self.materializations(asset, [partition] if partition else None)
        return max(events, key=lambda e: int(e["timestamp"]), default=None)

    def stale_status(self, assets: list[str], partition: str | None) -> dict[str, str]:
        nodes = self.graphql(STALE, {"keys": [{"path": [a]} for a in assets], "partition": partition})["assetNodes"]
        return {n["assetKey"]["path"][-1]: n["staleStatus"] for n in nodes}

    def runs(self, statuses: list[str] | None = None) -> list[dict]:
        data = self.graphql(RUNS, {"filter": {"statuses": statuses} if statuses else {}})
        return data["runsOrError"]["results"]

    def unfinished_runs(self) -> list[dict]:
        return self.runs(["QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"])

    def failed_runs(self) -> list[dict]:
        return self.runs(["FAILURE", "CANCELED"])


@contextmanager
def codecvdc_ui(project: Path, home: Path, profile: Path, log: Path, instance_yaml: Path | None = None):
    """`codecvdc ui` on a free loopback port, as a user starts it; yields once the code location is loaded."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env |= {"CODECVDC_HOME": str(home), "CODECVDC_PROJECT_DIR": str(project), "CODECVDC_PROFILE": str(profile)}
    if instance_yaml:
        env["CODECVDC_DAGSTER_YAML"] = str(instance_yaml)
    cli = Path(sys.executable).with_name("codecvdc")
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [str(cli), "ui", "--host", "127.0.0.1", "--port", str(port)],
            cwd=project,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        live = LiveDagster(proc, port, log, project, home)
        try:
            live.wait_loaded()
            yield live
        finally:
            stop_everything(live)


def stop(live: LiveDagster, sig: int = signal.SIGTERM, timeout_s: float = 15) -> float:
    """Signal `codecvdc ui` alone, as a service manager does; seconds until it returned."""
    live.remember_processes()
    started = time.monotonic()
    live.proc.send_signal(sig)
    with suppress(subprocess.TimeoutExpired):
        live.proc.wait(timeout=timeout_s)
    return time.monotonic() - started


def stop_everything(live: LiveDagster) -> None:
    """Whatever the test did: end the ui's group, then any group a descendant of it ran in."""
    live.remember_processes()
    groups = {live.proc.pid} | {_pgid(p) for p in alive(live.seen)}
    for pgid in groups - {None}:
        end_group(pgid, grace_s=5)
    for pid in alive(live.seen):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    try:
        live.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        live.proc.kill()
        live.proc.wait(timeout=10)


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


@contextmanager
def chromium_dom(
    url: str, profile_dir: Path, budget_ms: int = 20000, timeout_s: float = 90, window: str = "1600,1200"
) -> Iterator[str]:
    """The DOM headless Chromium renders for `url` after a virtual-time budget (scripts run, data loads)."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    cmd = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile_dir}",
        f"--virtual-time-budget={budget_ms}",
        f"--window-size={window}",
        "--dump-dom",
        url,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, _err = proc.communicate(timeout=timeout_s)
        yield out.decode(errors="replace")
    finally:
        end_group(proc.pid, grace_s=2)
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


LOCATIONS = """
{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""
RELOAD = """
mutation Reload($name: String!) { reloadRepositoryLocation(repositoryLocationName: $name) {
  __typename ... on PythonError { message } ... on UnauthorizedError { message } } }
"""
START_SENSOR = """
mutation Start($selector: SensorSelector!) { startSensor(sensorSelector: $selector) {
  __typename ... on Sensor { sensorState { status } } ... on PythonError { message } } }
"""
STOP_SENSOR = """
mutation Stop($id: String!, $selectorId: String!) { stopSensor(id: $id, jobSelectorId: $selectorId) {
  __typename ... on PythonError { message } } }
"""
START_SCHEDULE = """
mutation Start($selector: ScheduleSelector!) { startSchedule(scheduleSelector: $selector) {
  __typename ... on ScheduleStateResult { scheduleState { status } } ... on PythonError { message } } }
"""
STOP_SCHEDULE = """
mutation Stop($id: String!) { stopRunningSchedule(id: $id) { __typename ... on PythonError { message } } }
"""
TICK_FIELDS = (
    "id status timestamp runIds skipReason error { message } dynamicPartitionsRequestResults { partitionKeys }"
)
SENSOR_TICKS = f"""
query Ticks($selector: SensorSelector!, $limit: Int) {{ sensorOrError(sensorSelector: $selector) {{
  __typename ... on Sensor {{ sensorState {{ id selectorId status ticks(limit: $limit) {{ {TICK_FIELDS} }} }} }}
  ... on PythonError {{ message }} }} }}
"""
SCHEDULE_TICKS = f"""
query Ticks($selector: ScheduleSelector!, $limit: Int) {{ scheduleOrError(scheduleSelector: $selector) {{
  __typename ... on Schedule {{ scheduleState {{ id status ticks(limit: $limit) {{ {TICK_FIELDS} }} }} }}
  ... on PythonError {{ message }} }} }}
"""
INSTIGATORS = """
query Repo($selector: RepositorySelector!) { repositoryOrError(repositorySelector: $selector) {
  ... on Repository { sensors { name } schedules { name } } } }
"""
PARTITION_STATUS = """
query Status($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { __typename ... on AssetNode {
  assetPartitionStatuses { __typename
    ... on DefaultPartitionStatuses { materializedPartitions failedPartitions } } } } }
"""
MATERIALIZATIONS = """
query Mats($key: AssetKeyInput!, $partitions: [String!]) { assetOrError(assetKey: $key) { __typename
  ... on Asset { assetMaterializations(partitions: $partitions, limit: 200) { partition runId timestamp
    tags { key value }
    metadataEntries { label __typename ... on IntMetadataEntry { intValue } ... on FloatMetadataEntry { floatValue }
      ... on MarkdownMetadataEntry { mdStr } ... on TextMetadataEntry { text } ... on JsonMetadataEntry { jsonString } }
  } } } }
"""
STALE = """
query Stale($keys: [AssetKeyInput!], $partition: String) { assetNodes(assetKeys: $keys) {
  assetKey { path } staleStatus(partition: $partition) } }
"""
RUNS = """
query Runs($filter: RunsFilter) { runsOrError(filter: $filter, limit: 500) { ... on Runs { results {
  runId status tags { key value } assetSelection { path } } } } }
"""
