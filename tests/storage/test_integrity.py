"""Lake integrity (storage/integrity.py, `codecvdc verify`): a checksum record for every lake file, a
damaged or missing file found and reported in one line, `--repair` marking exactly those partitions,
`status` saying damaged, queries failing with one line naming the file, and `run --stale` restoring the
same rows with no paid model call. Real processes over a home made once for the module (two short
generated clips), and the same checks on a lake in a real S3 API (moto's server on loopback)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pandas as pd
import pytest
from support.cli_helpers import CHAIN, CLI, SELECT_CHAIN, add, cli, env_for, lake_table, model_calls

from codecvdc_assets.cli import main as cli_main
from codecvdc_assets.storage import integrity
from codecvdc_assets.video.synthetic import write_clip


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A home with the caption chain materialized for two short clips (copied by tests that damage it)."""
    folder = tmp_path_factory.mktemp("integrity")
    clips = [
        write_clip(str(folder / "a.mp4"), 4.0, fps=10, width=160, height=120, cuts_s=(2.0,)),
        write_clip(str(folder / "b.mp4"), 3.0, fps=10, width=160, height=120, cuts_s=(1.5,)),
    ]
    home = folder / "home"
    ids = add(home, clips)
    cli(["run", *SELECT_CHAIN], home)
    return home, ids


def run(args: list[str], home: Path) -> subprocess.CompletedProcess:
    """`codecvdc ARGS` as a process (what users run)."""
    return subprocess.run([*CLI, *args], env=env_for(home), capture_output=True, text=True, timeout=600)


def inproc(args: list[str], home: Path) -> subprocess.CompletedProcess:
    """`codecvdc ARGS` in this process (the same `main`, without an interpreter start per call)."""
    out, err = io.StringIO(), io.StringIO()
    saved = {k: os.environ.get(k) for k in ("CODECVDC_HOME", "DAGSTER_HOME", "CODECVDC_PROFILE")}
    os.environ["CODECVDC_HOME"] = str(home)
    os.environ.pop("CODECVDC_PROFILE", None)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = cli_main(args)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def status(home: Path) -> dict[str, dict[str, str]]:
    return json.loads(inproc(["status", "--json"], home).stdout)["videos"]


def test_every_lake_file_has_a_matching_record(made: tuple[Path, list[str]]) -> None:
    home, _ = made
    files = [p for p in (home / "lake").rglob("*.parquet") if "_integrity" not in p.parts]
    recorded = [p for p in files if p.parts[-3] != "failures"]
    assert len(recorded) >= 2 * len(CHAIN)
    for path in recorded:
        key = "/".join(path.relative_to(home).parts)
        record = json.loads((home / integrity.record_key(key)).read_text())
        data = path.read_bytes()
        assert record["sha256"] == hashlib.sha256(data).hexdigest(), key
        assert record["size"] == len(data) and record["written_at"] > 0
    clean = inproc(["verify"], home)
    assert clean.returncode == 0, clean.stderr
    assert f"{len(files)} lake file(s) read" in clean.stdout and "0 damaged or missing" in clean.stdout


def test_damaged_and_missing_files_found_repaired_and_rematerialized(
    made: tuple[Path, list[str]], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(made[0], home)
    a, b = made[1]
    before = {t: lake_table(home, t) for t in ("segments", "frames", "anchors", "video_narratives")}
    paid_before = len(model_calls(home).query("not cache_hit"))

    # A disk fault: one file truncated, another gone.
    truncated = home / "lake" / "segments" / f"video_id={a}" / "data.parquet"
    truncated.write_bytes(truncated.read_bytes()[:300])
    gone = home / "lake" / "anchors" / f"video_id={b}" / "data.parquet"
    gone.unlink()

    # A query that meets the damaged file: one line naming it, exit 2, no traceback.
    query = run(["sql", "select count(*) from segments"], home)
    assert query.returncode == 2
    assert query.stderr.count("\n") == 1 and "Traceback" not in query.stderr, query.stderr
    assert str(truncated) in query.stderr

    # verify: one line per damaged or missing file; exit 1; nothing changed yet.
    found = inproc(["verify"], home)
    assert found.returncode == 1, found.stderr
    lines = [line for line in found.stdout.splitlines() if line.startswith("damaged: ")]
    assert len(lines) == 2, found.stdout
    assert lines[0] == f"damaged: {gone}: missing (its checksum was recorded when it was written)"
    assert lines[1].startswith(f"damaged: {truncated}: checksum mismatch (300 bytes, recorded "), lines[1]
    assert status(home)[a]["segments"] == "fresh"  # nothing marked without --repair

    # --repair: the damaged file goes to quarantine/, both partitions are marked, queries answer again.
    repaired = inproc(["verify", "--repair"], home)
    assert repaired.returncode == 0, repaired.stderr
    assert "2 partition(s) marked damaged" in repaired.stdout
    assert not truncated.exists()
    assert (home / "quarantine" / truncated.relative_to(home)).stat().st_size == 300
    table = status(home)
    assert table[a]["segments"] == "damaged" and table[b]["anchors"] == "damaged"
    assert table[a]["anchors"] == "fresh" and table[b]["segments"] == "fresh"
    assert "damaged" in inproc(["status"], home).stdout
    rows = inproc(["sql", "select video_id, count(*) n from segments group by 1", "--format", "json"], home)
    assert [r["video_id"] for r in json.loads(rows.stdout)] == [b]
    assert inproc(["verify"], home).returncode == 0  # marked partitions are the repair's business now

    # run --stale re-materializes exactly the marked partitions (and what depends on them, in that video).
    resumed = cli(["run", "--stale", *SELECT_CHAIN], home)
    assert "2 video(s) ok, 0 failed" in resumed.stdout, resumed.stdout
    first = resumed.stdout.splitlines()[0]
    assert "videos," not in first and first.startswith("materializing frames, segments, anchors"), first
    assert all(state == "fresh" for vid in (a, b) for name, state in status(home)[vid].items() if name in CHAIN)
    after = inproc(["verify"], home)
    assert after.returncode == 0 and "0 damaged or missing" in after.stdout
    for name, frame in before.items():
        pd.testing.assert_frame_equal(lake_table(home, name), frame, obj=name)
    assert len(model_calls(home).query("not cache_hit")) == paid_before  # answers came from the cache


def test_verify_reads_a_lake_on_s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same records and checks on S3 keys (a real S3 API on loopback)."""
    import boto3
    from moto.server import ThreadedMotoServer
    from support.services import free_port

    from codecvdc_assets.storage.blobs import S3Blobs
    from codecvdc_assets.storage.lake import Lake

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1")
        client.create_bucket(Bucket="lake")
        lake = Lake(tmp_path, S3Blobs(client, "lake", "pool"))
        for vid in ("v1-0000000001", "v2-0000000002", "v3-0000000003"):
            lake.write("video_narratives", vid, _narrative(vid))
        assert integrity.verify(lake.blobs).damaged == []
        damaged_key = "pool/lake/video_narratives/video_id=v2-0000000002/data.parquet"
        body = client.get_object(Bucket="lake", Key=damaged_key)["Body"].read()
        client.put_object(Bucket="lake", Key=damaged_key, Body=body[: len(body) // 2])
        client.delete_object(Bucket="lake", Key="pool/lake/video_narratives/video_id=v3-0000000003/data.parquet")
        report = integrity.verify(lake.blobs)
        assert [(d.uri, d.reason.split(" (")[0]) for d in report.damaged] == [
            ("s3://lake/pool/lake/video_narratives/video_id=v2-0000000002/data.parquet", "checksum mismatch"),
            ("s3://lake/pool/lake/video_narratives/video_id=v3-0000000003/data.parquet", "missing"),
        ]
        assert integrity.partitions_of(report.damaged[0], lake.blobs, {"video_narratives"}) == [
            ("v2-0000000002", "video_narratives")
        ]
        moved = integrity.quarantine(lake.blobs, report.damaged[0])
        assert moved == "s3://lake/pool/quarantine/lake/video_narratives/video_id=v2-0000000002/data.parquet"
        integrity.forget(lake.blobs, report.damaged[1].key)
        assert integrity.verify(lake.blobs).damaged == []
    finally:
        server.stop()


def _narrative(video_id: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "video_id": [video_id],
            "narrative": [f"narrative of {video_id}"],
            "n_words": [3],
            "n_segments": [1],
            "model": ["m"],
            "version": ["v"],
        }
    )
