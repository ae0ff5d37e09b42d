"""Secrets and boundaries: the API key only from the environment and nowhere after a run, SQL that cannot
write, and a loopback-only model server unless asked otherwise."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from support.model_helpers import loopback_project
from support.paths import PROJECT, shared

from codecvdc_assets.cli import main
from codecvdc_assets.models.server import FaultPlan, LoopbackServer, free_port
from codecvdc_assets.video.synthetic import write_clip

CLI = [sys.executable, "-m", "codecvdc_assets.cli"]
CHAIN = ["videos", "segments", "anchors", "residuals", "evidence", "scene_narratives", "video_narratives"]
SQL_FILES = sorted((PROJECT / "sql").glob("*.sql"))


@pytest.mark.slow
def test_sentinel_key_is_sent_and_found_nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sentinel = f"sk-SENTINEL-{secrets.token_hex(16)}"
    home = tmp_path / "home"
    clip = write_clip(str(tmp_path / "cuts.mp4"), 3.0, fps=10, width=160, height=120, cuts_s=(1.5,), keyint=10)
    # Transient faults on the way: retries, re-asks and their records must not carry the key either.
    plan = FaultPlan(script=["500", "malformed", "reset", "429"], retry_after_s=0.1)
    outputs: list[bytes] = []
    with LoopbackServer(plan) as server:
        env = {
            **{k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "CODECVDC_PROFILE")},
            "CODECVDC_HOME": str(home),
            "CODECVDC_PROJECT_DIR": str(loopback_project(tmp_path / "project")),
            "LOOPBACK_URL": server.base_url,
            "LOOPBACK_KEY": sentinel,  # the only place the key is given
        }
        commands = [
            ["add", shared("counter.mp4"), clip],
            ["run", "--profile", "loopback", *(f"--select={a}" for a in CHAIN)],
            ["sql", "select * from model_calls; select * from failures; select * from anchors"],
        ]
        for args in commands:
            done = subprocess.run([*CLI, *args], env=env, capture_output=True, timeout=600)
            outputs += [done.stdout, done.stderr]
            assert done.returncode == 0, done.stdout.decode()[-3000:]
    # The key was really used: every request carried it.
    assert len(plan.log) >= 8 and {s.authorization for s in plan.log} == {f"Bearer {sentinel}"}
    assert plan.stats["500"] == plan.stats["reset"] == 1
    needles = [sentinel.encode(), sentinel.removeprefix("sk-SENTINEL-").encode()]

    def clean(blob: bytes, where: str) -> None:
        assert not any(n in blob for n in needles), f"the API key leaked into {where}"

    scanned = 0
    for path in home.rglob("*"):
        if path.is_file():
            clean(path.read_bytes(), str(path))
            scanned += 1
    assert scanned > 50 and any(p.suffix == ".parquet" for p in (home / "lake").rglob("*"))
    for i, blob in enumerate(outputs):
        clean(blob, f"the output of `codecvdc {' '.join(commands[i // 2][:1])}`")
    # Dagster's own records: run configs, tags and every event of every run, with its metadata.
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert runs
        for run in runs:
            clean(repr((run.run_config, run.tags)).encode(), f"run {run.run_id}'s config")
            for record in instance.all_logs(run.run_id):
                clean(repr(record).encode(), f"an event of run {run.run_id}")


def test_profile_with_a_literal_api_key_is_refused(tmp_path: Path, monkeypatch, capsys, home) -> None:
    project = loopback_project(tmp_path / "project")
    literal = "sk-LITERAL-0123456789"
    text = (project / "resources" / "loopback.yaml").read_text()
    (project / "resources" / "bad.yaml").write_text(text.replace("api_key_env: LOOPBACK_KEY", f"api_key: {literal}"))
    monkeypatch.setenv("CODECVDC_PROJECT_DIR", str(project))
    monkeypatch.setenv("LOOPBACK_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("CODECVDC_PROFILE", "embedded")  # `--profile` sets it; restored after the test
    assert main(["status", "--profile", "bad"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "must not contain api_key" in err and "api_key_env" in err
    assert literal not in err


@pytest.mark.parametrize(
    "statement, kind",
    [
        ("create table x as select 1", "CREATE"),
        ("copy (select 1) to '{out}'", "COPY"),
        ("install httpfs", "LOAD"),
        ("load parquet", "LOAD"),
        ("attach '{out}' as other", "ATTACH"),
        ("export database '{out}'", "EXPORT"),
        ("set enable_external_access = true", "SET"),
        ("select 1; drop view videos", "DROP"),
    ],
)
def test_sql_cannot_write(home, tmp_path: Path, capsys, statement: str, kind: str) -> None:
    out = tmp_path / "written"
    assert main(["sql", statement.format(out=out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"is {kind}, refused: the catalog is read-only" in err, err
    assert not out.exists()
    assert main(["sql", "select count(*) as n from videos"]) == 0  # the views still read the lake


def test_shipped_sql_files_still_run(home, capsys) -> None:
    for path in SQL_FILES:
        assert main(["sql", "-f", str(path)]) == 0, path
    assert main(["sql", "explain select * from model_calls"]) == 0


def test_serve_embedded_refuses_a_public_address_without_a_flag(capsys) -> None:
    assert main(["serve-embedded", "--host", "0.0.0.0", "--port", str(free_port())]) == 2
    err = capsys.readouterr().err
    assert "--host 0.0.0.0 is not loopback; add --allow-remote" in err


def test_serve_embedded_binds_loopback_by_default() -> None:
    port = free_port()
    proc = subprocess.Popen([*CLI, "serve-embedded", "--port", str(port)], stdout=subprocess.PIPE, text=True)
    try:
        assert "serving" in proc.stdout.readline()
        deadline = time.monotonic() + 60
        while not listeners(port):  # uvicorn binds right after printing
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        assert listeners(port) == ["127.0.0.1"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def listeners(port: int) -> list[str]:
    """Addresses listening on `port` (IPv4), from /proc/net/tcp: the kernel's own view of the socket."""
    found = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if int(hex_port, 16) == port and state == "0A":  # 0A = LISTEN
            found.append(".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)))
    return found
