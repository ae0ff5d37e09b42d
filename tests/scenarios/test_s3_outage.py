"""S3 outage: the S3 API (moto's server on loopback) stops in the middle of a `codecvdc run --profile s3`.
Videos finished before it stay whole, each failing video gets one line naming it and the reason, nothing
prints a traceback, and once the endpoint is back `run --stale` completes without paying a call twice."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import boto3
import pandas as pd
import pytest
from support.cli_helpers import CLI, SELECT_CHAIN, env_for
from support.services import free_port

from codecvdc_assets.storage import integrity
from codecvdc_assets.storage.blobs import S3Blobs
from codecvdc_assets.video.synthetic import write_clip

BUCKET = "outage"
PREFIX = "pool"


def s3_env(home: Path, port: int) -> dict[str, str]:
    env = env_for(home)
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        env.pop(key, None)
    return {
        **env,
        "CODECVDC_PROFILE": "s3",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "CODECVDC_S3_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "CODECVDC_S3_BUCKET": BUCKET,
        "CODECVDC_S3_PREFIX": PREFIX,
        "AWS_MAX_ATTEMPTS": "2",  # fail over a dead endpoint in seconds, not minutes (botocore's setting)
    }


def run(args: list[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout)


def wait_for_key(client, key: str, proc: subprocess.Popen, timeout: float = 400) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the run ended (exit {proc.returncode}) before {key} was written"
        if client.list_objects_v2(Bucket=BUCKET, Prefix=key).get("KeyCount"):
            return
        time.sleep(0.05)
    raise AssertionError(f"{key} not written within {timeout} s")


@pytest.mark.slow
def test_s3_outage_mid_run_fails_cleanly_and_resumes(tmp_path: Path) -> None:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    proc = None
    try:
        client = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        client.create_bucket(Bucket=BUCKET)
        home = tmp_path / "home"
        env = s3_env(home, port)
        clips = [
            write_clip(str(tmp_path / f"clip{i}.mp4"), 3.0 + i, fps=10, width=128, height=96, cuts_s=(1.5,))
            for i in range(4)
        ]
        added = run(["add", *clips], env)
        assert added.returncode == 0, added.stderr
        ids = [line.split()[1] for line in added.stdout.splitlines() if line.startswith("added")]
        assert len(ids) == 4

        # Two runs of two videos; the endpoint goes away once the second run has begun.
        log = tmp_path / "outage.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [*CLI, "run", *SELECT_CHAIN, "--batch-size", "2"],
                env={**env, "CODECVDC_EMBEDDED_DELAY_S": "0.2"},
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        wait_for_key(client, f"{PREFIX}/lake/videos/video_id={ids[2]}/data.parquet", proc)
        server.stop()
        proc.wait(timeout=400)
        output = log.read_text()
        assert proc.returncode == 1, output
        assert "Traceback" not in output, output
        for vid in ids[:2]:
            assert f"{vid} ok" in output, output
        for vid in ids[2:]:
            lines = [line for line in output.splitlines() if f"{vid} FAILED: " in line]
            assert len(lines) == 1, output
            assert f"127.0.0.1:{port}" in lines[0] or "connect" in lines[0].lower(), lines[0]
        print("during the outage:", next(line for line in output.splitlines() if "FAILED" in line)[:240])

        # Back again (moto keeps its objects in this process): the finished videos are whole.
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        blobs = S3Blobs(client, BUCKET, PREFIX)
        assert [d for d in integrity.verify(blobs).damaged if any(v in d.key for v in ids[:2])] == []
        resumed = run(["run", "--stale", *SELECT_CHAIN, "--batch-size", "2"], env)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert "0 failed" in resumed.stdout and "for 2 video(s)" in resumed.stdout, resumed.stdout
        report = integrity.verify(blobs)
        assert report.damaged == [] and report.checked > 8 * 4
        query = "select video_id, cache_key, cache_hit, status from model_calls"
        calls = pd.DataFrame(json.loads(run(["sql", query, "--format", "json"], env).stdout))
        paid = calls[~calls["cache_hit"] & (calls["status"] == "ok")]
        assert not paid["cache_key"].duplicated().any(), "a model call was paid twice"
        assert set(calls["video_id"]) == set(ids)
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        with contextlib.suppress(Exception):  # (already stopped when the test failed during the outage)
            server.stop()
