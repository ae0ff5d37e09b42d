"""The `video_files` sensor takes a large root in bounded slices with a cursor: a local folder of 300
files and an S3 prefix of 300 objects (moto on loopback), each covered over a few ticks with no
duplicate, never more than MAX_PER_TICK entries a tick, links out of the root never followed, and
files added behind the cursor found after the listing wraps around. The budget is scaled down with the
root (100 a tick instead of 1,000; S3 pages of 40 keys instead of 1,000, so a tick spans several
pages): the same slicing at a tenth of the cost of 3,000 files."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg
import pytest
from support.s3 import BUCKET

from codecvdc_assets.defs import sensors
from codecvdc_assets.defs.resources import LakeResource, VideoRootsResource
from codecvdc_assets.storage import video_sources
from codecvdc_assets.storage.registry import Registry, walk_files
from codecvdc_assets.storage.video_sources import scan_roots

N_FILES = 300
BUDGET = 100  # sensors.MAX_PER_TICK for these tests


@pytest.fixture(autouse=True)
def small_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sensors, "MAX_PER_TICK", BUDGET)
    monkeypatch.setattr(video_sources, "S3_PAGE", 40)


def tick(instance: dg.DagsterInstance, resources: dict, cursor: str | None) -> tuple[list[str], str]:
    """One sensor evaluation; its partition requests are applied as the daemon would."""
    with dg.build_sensor_context(instance=instance, resources=resources, cursor=cursor) as context:
        result = sensors.video_files_sensor(context)
    new = [k for r in result.dynamic_partitions_requests for k in r.partition_keys]
    if new:
        instance.add_dynamic_partitions("videos", new)
    return new, result.cursor


def run_ticks(instance: dg.DagsterInstance, resources: dict, ticks: int, cursor: str | None = None):
    per_tick, seen = [], []
    for _ in range(ticks):
        new, cursor = tick(instance, resources, cursor)
        per_tick.append(len(new))
        seen.extend(new)
    return per_tick, seen, cursor


def test_local_root_is_taken_in_bounded_slices(home: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    for i in range(N_FILES):  # 30 folders of 10; distinct bytes so every file is its own video
        folder = root / f"d{i // 10:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"clip {i:04d}.mp4").write_bytes(f"clip {i}".encode())
    (root / "d00" / "notes.txt").write_text("not a video")
    (root / "d00" / ".hidden.mp4").write_bytes(b"hidden")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.mp4").write_bytes(b"outside the root")
    os.symlink(outside / "secret.mp4", root / "d01" / "link.mp4")
    os.symlink(outside, root / "linked-dir")

    # The listing itself: slices of at most the budget, in order, every file exactly once. The root holds
    # 303 entries (the clips, notes.txt and the two links; hidden names are not listed): four slices.
    keys, cursor = [], {}
    for i in range(4):
        found, cursor = scan_roots([str(root)], cursor, sensors.MAX_PER_TICK)
        assert len(found) <= sensors.MAX_PER_TICK
        assert (cursor["after"] == {}) == (i == 3)  # only the fourth slice runs out (the next starts over)
        keys.extend(f.path for f in found)
    assert len(keys) == len(set(keys)) == N_FILES
    assert not any("secret" in k or "hidden" in k or k.endswith(".txt") for k in keys)
    walked = [k for k, _ in walk_files(root)]
    assert walked == sorted(walked, key=lambda k: k.split("/"))
    assert walk_files(root, after=walked[150]).__next__()[0] == walked[151]

    instance = dg.DagsterInstance.get()
    resources = {"lake": LakeResource(home=str(home)), "video_roots": VideoRootsResource(roots=[str(root)])}
    per_tick, seen, cursor = run_ticks(instance, resources, 4)
    assert all(n <= sensors.MAX_PER_TICK for n in per_tick) and sum(per_tick) == N_FILES
    assert json.loads(cursor)["after"] == {}
    # A file added behind the cursor is found on the next pass; nothing else is new.
    (root / "d00" / "late.mp4").write_bytes(b"added late")
    per_tick2, seen2, _ = run_ticks(instance, resources, 4, cursor)
    assert per_tick2 == [1, 0, 0, 0]
    seen += seen2
    assert len(seen) == len(set(seen)) == N_FILES + 1
    assert len(Registry(home).all()) == N_FILES + 1
    assert set(seen) == set(instance.get_dynamic_partitions("videos"))
    assert not any(r.path.startswith(str(outside)) for r in Registry(home).all())


@pytest.mark.slow
def test_s3_prefix_is_taken_in_bounded_slices(home: Path, s3_env: dict, monkeypatch) -> None:  # noqa: F811
    client = s3_env["client"]
    keys = [f"pool/batch{i // 50}/clip-{i:04d}.mp4" for i in range(N_FILES)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: client.put_object(Bucket=BUCKET, Key=k, Body=k.encode()), keys))
    client.put_object(Bucket=BUCKET, Key="pool/readme.txt", Body=b"x")
    client.put_object(Bucket=BUCKET, Key="elsewhere/clip.mp4", Body=b"not under the root")
    root = f"s3://{BUCKET}/pool/"
    s3 = {"endpoint_url": s3_env["CODECVDC_S3_ENDPOINT_URL"], "region_name": "us-east-1"}
    lake = LakeResource(home=str(home), s3=s3)
    resources = {"lake": lake, "video_roots": VideoRootsResource(roots=[root])}

    instance = dg.DagsterInstance.get()
    per_tick, seen, cursor = run_ticks(instance, resources, 4)
    assert all(n <= sensors.MAX_PER_TICK for n in per_tick)
    assert per_tick == [BUDGET, BUDGET, BUDGET, 0]
    assert json.loads(cursor)["after"] == {}  # the listing ran out and starts over
    assert len(seen) == len(set(seen)) == N_FILES
    paths = {r.path for r in Registry(home).all()}
    assert paths == {f"s3://{BUCKET}/{k}" for k in keys}
    # An unchanged object is known by its size and date: the next pass fingerprints nothing.
    fingerprinted = []
    original = sensors.s3_fingerprints
    monkeypatch.setattr(sensors, "s3_fingerprints", lambda c, srcs: fingerprinted.extend(srcs) or original(c, srcs))
    client.put_object(Bucket=BUCKET, Key="pool/batch0/clip-0001.mp4", Body=b"replaced content")
    assert run_ticks(instance, resources, 4, cursor)[0] == [1, 0, 0, 0]  # the replaced object is a new video
    assert [f.path for f in fingerprinted] == [f"s3://{BUCKET}/pool/batch0/clip-0001.mp4"]
    # The same bytes as a local file give the same video id (the fingerprint reads the same ranges).
    local = home / "clip-0007.mp4"
    local.write_bytes(keys[7].encode())
    assert Registry(home / "other").register(str(local))[0].video_id in seen
