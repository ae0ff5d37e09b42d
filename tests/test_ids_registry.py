"""Video ids are sanitized and stable; the registry maps ids to files."""

from __future__ import annotations

import os
import shutil

from conftest import shared

from codecvdc_assets.storage.registry import Registry, find_videos
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
