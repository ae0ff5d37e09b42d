"""The embedded backend through the model interface, on generated frames with known content."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from support.model_helpers import (
    anchor_request,
    background,
    panning_frames,
    qa_request,
    red_square_frames,
    residual_request,
)

from codecvdc_assets.models.client import ModelClient
from codecvdc_assets.models.embedded.backend import TEXT_MODEL, EmbeddedBackend
from codecvdc_assets.models.embedded.spatial import ZONE_NAMES

COLUMN = {z: i % 3 for i, z in enumerate(ZONE_NAMES)}


def test_moving_red_square_goes_right_and_zones_move_left_to_right() -> None:
    client = ModelClient(EmbeddedBackend())
    residuals = client.complete(residual_request(red_square_frames(8)))["residuals"]
    assert len(residuals) == 7
    assert [r["frame_pair"] for r in residuals] == [[i, i + 1] for i in range(7)]
    assert all(r["change_type"] == "continuous" for r in residuals)
    assert all(r["direction"] == "right" and r["subject"] == "red object" for r in residuals)
    columns = [COLUMN[r["zone_from"]] for r in residuals] + [COLUMN[residuals[-1]["zone_to"]]]
    assert columns == sorted(columns) and columns[0] == 0 and columns[-1] == 2


def test_global_horizontal_shift_is_a_camera_pan() -> None:
    residuals = ModelClient(EmbeddedBackend()).complete(residual_request(panning_frames()))["residuals"]
    assert {r["change_type"] for r in residuals} == {"camera"}
    assert {r["direction"] for r in residuals} == {"left"}  # content moves right: the camera pans left
    assert all("pans left" in r["delta_caption"] for r in residuals)


def test_static_clip_gives_none() -> None:
    still = background()
    residuals = ModelClient(EmbeddedBackend()).complete(residual_request([still] * 5))["residuals"]
    assert [r["change_type"] for r in residuals] == ["none"] * 4
    assert all(r["delta_caption"] == "No visible change." for r in residuals)


def test_anchor_describes_colours_and_positions() -> None:
    frame = red_square_frames(1)[0]
    answer = ModelClient(EmbeddedBackend()).complete(anchor_request(frame))
    red = [e for e in answer["entities"] if e["label"] == "red object"]
    assert len(red) == 1 and red[0]["zone"] == "center-left"
    assert "red object at center-left" in answer["caption"]
    assert "Layout:" in answer["caption"] and "0 face(s)" in answer["caption"]


def test_text_model_answers_from_the_caption_or_says_unknown() -> None:
    client = ModelClient(EmbeddedBackend(TEXT_MODEL))
    caption = "The camera pans left. The red object moves right from center-left to center."
    options = {"A": "left", "B": "right", "C": "up", "D": "down"}
    direction = client.complete(qa_request(caption, "Which way does the red object move?", options))
    assert direction["answer"] == "B" and "right" in direction["observation"]
    camera = client.complete(qa_request(caption, "How does the camera move?", {"A": "pans left", "B": "pans right"}))
    assert camera["answer"] == "A"
    unknown = client.complete(qa_request(caption, "How many people are there?", {"A": "one", "B": "two"}))
    assert unknown["answer"] == "unknown"


def test_encoded_clip_through_segmentation_sampling_and_residuals(tmp_path) -> None:
    """A generated, H.264-encoded clip (a white square moving left to right on a still textured
    background, no cut): one segment, and every residual of the chain says `right`, zones left to right."""
    from codecvdc_assets.captioning.chain import ChainSettings, caption_residuals
    from codecvdc_assets.captioning.prompts import load_prompt
    from codecvdc_assets.storage.frame_store import FrameStore
    from codecvdc_assets.video.probe import probe
    from codecvdc_assets.video.rows import frames_frame
    from codecvdc_assets.video.scan import scan_video
    from codecvdc_assets.video.segmentation import SegmentParams
    from codecvdc_assets.video.synthetic import write_clip

    clip = write_clip(str(tmp_path / "square.mp4"), 8.0, fps=25, width=320, height=240)
    store = FrameStore(str(tmp_path / "frames"))
    scan = scan_video(probe(clip, with_sha256=False), SegmentParams(), store)
    assert len(scan.segments) == 1
    frames = frames_frame("square-0000000000", scan, lambda sha: sha)
    table = caption_residuals(
        "square-0000000000",
        frames,
        store.read,
        ModelClient(EmbeddedBackend()),
        load_prompt("residual"),
        "test",
        ChainSettings(residual_context="none"),
    )
    assert len(table) == 7  # 8 sampled frames, one residual per adjacent pair
    assert set(table["change_type"]) == {"continuous"} and set(table["direction"]) == {"right"}
    columns = [COLUMN[z] for z in table["zone_from"]] + [COLUMN[table["zone_to"].iloc[-1]]]
    assert columns == sorted(columns) and columns[0] == 0 and columns[-1] == 2


def test_detectors_give_the_same_answer_from_concurrent_threads() -> None:
    """A shared OpenCV cascade gave different face counts for the same frame under concurrency (the
    loopback server and the backend run calls in threads); detectors are per thread now."""
    import av
    from support.paths import shared

    from codecvdc_assets.models.embedded.vision import detect_faces

    with av.open(shared("bikes.mp4")) as container:
        frames = [f.to_ndarray(format="bgr24") for i, f in enumerate(container.decode(video=0)) if i % 10 == 0]
    alone = [len(detect_faces(f)) for f in frames]
    assert sum(alone) >= 1  # bikes has a face at frame 30: the comparison is not all zeros
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda f: len(detect_faces(f)), frames * 2))
    assert together == alone * 2
