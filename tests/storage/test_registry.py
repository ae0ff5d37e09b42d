"""Video ids are sanitized and stable; the registry maps ids to files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from support.paths import shared

from codecvdc_assets.storage.lake import Lake
from codecvdc_assets.storage.registry import Registry, VideoRootError, find_videos
from codecvdc_assets.video.ids import is_valid_video_id, slugify, video_id_for


def test_slugs_are_safe_for_keys_and_paths() -> None:
    assert slugify("My Video (final).MP4") == "my-video-final-mp4"
    assert slugify("../../etc/passwd") == "etc-passwd"
    assert slugify("\x00\x1b[31m") == "31m"
    assert slugify("日本語") == "video"
    assert len(slugify("x" * 500)) == 40


def test_same_file_same_id_different_files_different_ids(tmp_path) -> None:
    a = tmp_path / "a" / "clip.mp4"
    b = tmp_path / "b" / "clip.mp4"
    a.parent.mkdir()
    b.parent.mkdir()
    shutil.copy(shared("bikes.mp4"), a)
    shutil.copy(shared("counter.mp4"), b)
    assert video_id_for(a) != video_id_for(b)  # same name, other content
    assert is_valid_video_id(video_id_for(a))
    # The registry makes the same content one partition, whatever its name or folder.
    registry = Registry(tmp_path / "home")
    original, _ = registry.register(shared("bikes.mp4"))
    copy, is_new = registry.register(a)
    assert copy.video_id == original.video_id and not is_new


def test_registry_registers_once(tmp_path) -> None:
    registry = Registry(tmp_path)
    first, new1 = registry.register(shared("bikes.mp4"))
    second, new2 = registry.register(shared("bikes.mp4"))
    assert new1 and not new2 and first.video_id == second.video_id
    assert registry.get(first.video_id).path == shared("bikes.mp4")
    assert [r.video_id for r in registry.all()] == [first.video_id]


def test_hostile_names_and_links_out_of_the_root(tmp_path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "outside.mp4"
    shutil.copy(shared("counter.mp4"), outside)
    os.symlink(outside, root / "link.mp4")
    weird = root / os.fsdecode(b"bad\xffname\nnew.mp4")
    shutil.copy(shared("counter.mp4"), weird)
    (root / "notes.txt").write_text("not a video")
    found = find_videos(root)
    assert found == [str(weird)]
    video_id = Registry(tmp_path / "home").register(found[0])[0].video_id
    assert is_valid_video_id(video_id) and "/" not in video_id and "\n" not in video_id


HOSTILE_NAMES = [
    "..mp4",
    "..%2f..%2fetc%2fpasswd.mp4",
    "..\\..\\windows.mp4",
    "new\nline.mp4",
    "\x1b[31mred\x1b[0m.mp4",
    "tab\there\rcr.mp4",
    "x" * 246 + ".mp4",  # 250 bytes: ext4 allows 255 per name
    "é" * 120 + ".mp4",  # 244 bytes of UTF-8, 124 characters
    os.fsdecode(b"caf\xe9\xff\xfe.mp4"),  # not UTF-8
    "日本語.mp4",
    "--help.mp4",
    " .mp4",
    "Clip A.mp4",
    "clip-a.mp4",  # the same slug as "Clip A.mp4"
]


def test_hostile_names_get_distinct_valid_ids(tmp_path) -> None:
    folder = tmp_path / "videos"
    folder.mkdir()
    paths = []
    for i, name in enumerate(HOSTILE_NAMES):
        target = folder / name
        target.write_bytes(Path(shared("counter.mp4")).read_bytes() + bytes([i]))  # distinct content each
        paths.append(str(target))
    home = tmp_path / "home"
    registry = Registry(home)
    ids = [registry.register(p)[0].video_id for p in paths]
    assert all(is_valid_video_id(v) for v in ids), ids
    assert len(set(ids)) == len(ids)  # distinct content: distinct ids, even when the slugs collide
    slugs = [v.rsplit("-", 1)[0] for v in ids]
    assert slugs[-2] == slugs[-1] == "clip-a"
    assert slugs[0] == "mp4" and slugs[1] == "2f-2fetc-2fpasswd" and slugs[9] == "video"
    assert all(len(v) <= 51 and "/" not in v and "\\" not in v and ".." not in v for v in ids)
    # The registry keeps the exact path (non-UTF-8 included) and writes only under its own folder.
    assert [registry.get(v).path for v in ids] == paths
    assert all(p.resolve().is_relative_to(home.resolve()) for p in home.rglob("*"))
    # The same content under a hostile name is the same video; an id not made by us is refused.
    twin = folder / "twin\n.mp4"
    twin.write_bytes(Path(paths[3]).read_bytes())
    assert registry.register(twin)[0].video_id == ids[3]
    for bad in ("../../etc-0123456789", "a/b-0123456789", "x-0123456789\n", "X-0123456789"):
        assert not is_valid_video_id(bad)
        with pytest.raises(ValueError):
            registry.get(bad)
        with pytest.raises(ValueError):
            Lake(home).path("videos", bad)


def test_nested_dotdot_paths_are_resolved_before_ids_are_made(tmp_path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    clip = tmp_path / "clip.mp4"
    shutil.copy(shared("counter.mp4"), clip)
    registry = Registry(tmp_path / "home")
    via_dots, _ = registry.register(str(tmp_path / "a" / "b" / ".." / ".." / "clip.mp4"))
    direct, is_new = registry.register(clip)
    assert via_dots.video_id == direct.video_id and not is_new
    assert via_dots.path == str(clip)


def test_sensor_roots_are_confined(tmp_path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    shutil.copy(shared("counter.mp4"), root / "sub" / "inside.mp4")
    secret = tmp_path / "secret"
    secret.mkdir()
    shutil.copy(shared("bikes.mp4"), secret / "outside.mp4")
    os.symlink(secret, root / "linked-dir")  # a folder link out of the root
    os.symlink(secret / "outside.mp4", root / "sub" / "link.mp4")  # a file link out of the root
    os.symlink(root / "sub" / "inside.mp4", root / "alias.mp4")  # a link that stays inside: fine
    assert find_videos(root) == [str(root / "sub" / "inside.mp4")] * 2
    # A root spelled with `..` is refused outright (it is not what the configuration seems to say).
    with pytest.raises(VideoRootError):
        find_videos(root / "sub" / ".." / ".." / "secret")
    with pytest.raises(VideoRootError):
        find_videos(f"{root}/../secret")
    # `codecvdc add` (not confined) follows the user's links and spelling.
    assert str(secret / "outside.mp4") in find_videos(root, confine=False)
    assert find_videos(root / "sub" / ".." / ".." / "secret", confine=False) == [str(secret / "outside.mp4")]


def test_sensor_skips_a_dotdot_root_and_reads_the_others(home, tmp_path) -> None:
    import dagster as dg

    from codecvdc_assets.defs.resources import LakeResource, VideoRootsResource
    from codecvdc_assets.defs.sensors import video_files_sensor

    good = tmp_path / "good"
    good.mkdir()
    shutil.copy(shared("counter.mp4"), good / "a.mp4")
    secret = tmp_path / "secret"
    secret.mkdir()
    shutil.copy(shared("bikes.mp4"), secret / "b.mp4")
    roots = [str(good / ".." / "secret"), str(good)]
    resources = {"lake": LakeResource(home=str(home)), "video_roots": VideoRootsResource(roots=roots)}
    result = video_files_sensor(dg.build_sensor_context(instance=dg.DagsterInstance.get(), resources=resources))
    (request,) = result.dynamic_partitions_requests
    assert [k.rsplit("-", 1)[0] for k in request.partition_keys] == ["a"]


def test_files_alike_at_both_ends_get_distinct_ids(tmp_path) -> None:
    """Same name, same size, same first and last MiB, different middle: two videos, not one."""
    rng = np.random.default_rng(0)
    body = bytearray(rng.integers(0, 256, 5 << 20, dtype=np.uint8).tobytes())
    first, second = tmp_path / "a" / "clip.mp4", tmp_path / "b" / "clip.mp4"
    first.parent.mkdir()
    second.parent.mkdir()
    first.write_bytes(bytes(body))
    body[(5 << 20) // 2 : (5 << 20) // 2 + 4096] = bytes(4096)  # zero 4 KiB in the middle
    second.write_bytes(bytes(body))
    assert video_id_for(first) == video_id_for(second)  # the cheap fingerprint cannot tell them apart
    registry = Registry(tmp_path / "home")
    id_a, new_a = registry.register(first)
    id_b, new_b = registry.register(second)
    assert new_a and new_b and id_a.video_id != id_b.video_id
    assert is_valid_video_id(id_b.video_id) and id_b.video_id.startswith("clip-")
    # A copy of either is still that one video.
    copy = tmp_path / "copy of b.mp4"
    shutil.copy(second, copy)
    assert registry.register(copy)[0].video_id == id_b.video_id
    assert registry.register(first)[0].video_id == id_a.video_id
