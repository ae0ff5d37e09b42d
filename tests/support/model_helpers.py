"""Frames and requests for the model-layer tests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np

from codecvdc_assets.models import messages as m
from codecvdc_assets.models.task_schemas import SCHEMAS
from codecvdc_assets.models.types import ModelRequest
from support.paths import PROJECT


def background(seed: int = 1, size: tuple[int, int] = (240, 320)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = (rng.integers(0, 50, (*size, 3)) + np.array([120, 90, 60])).astype(np.uint8)
    return cv2.GaussianBlur(image, (5, 5), 0)


def red_square_frames(n: int = 8) -> list[np.ndarray]:
    """A red square moving left to right, 35 px per frame, on a still background."""
    frames = []
    for i in range(n):
        image = background()
        x = 10 + 35 * i
        image[100:140, x : x + 40] = (0, 0, 230)
        frames.append(image)
    return frames


def panning_frames(n: int = 6, step: int = 12) -> list[np.ndarray]:
    """A view sliding left over a wide texture: the content moves right, the camera pans left."""
    rng = np.random.default_rng(2)
    texture = cv2.resize(rng.integers(0, 255, (60, 120, 3)).astype(np.uint8), (480, 240), interpolation=cv2.INTER_CUBIC)
    return [texture[:, 120 - i * step : 120 - i * step + 320].copy() for i in range(n)]


def jpeg(image: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()


def residual_request(frames: list[np.ndarray], video_id: str | None = None) -> ModelRequest:
    parts = [m.image_part(jpeg(f)) for f in frames]
    note = "```json\n" + json.dumps({"first_frame_index": 0}) + "\n```"
    return ModelRequest(
        "residual",
        [m.user("Describe only what changes.", note, *parts)],
        SCHEMAS["residual"],
        video_id=video_id,
        asset="residuals",
    )


def anchor_request(frame: np.ndarray, video_id: str | None = None) -> ModelRequest:
    return ModelRequest(
        "anchor",
        [m.user("Describe everything.", m.image_part(jpeg(frame)))],
        SCHEMAS["anchor"],
        video_id=video_id,
        asset="anchors",
    )


def qa_request(caption: str, question: str, options: dict[str, str]) -> ModelRequest:
    block = "```json\n" + json.dumps({"caption": caption, "question": question, "options": options}) + "\n```"
    return ModelRequest("qa_answer", [m.user("Answer from the caption only.", block)], SCHEMAS["qa_answer"])


# ------------------------------------------------------------------ profiles against the loopback server


# Both models on the loopback server through the openai backend; the URL, the key's variable and the
# transport limits come from the environment, as a deployment's would.
LOOPBACK_PROFILE = """
vision_model:
  backend: openai
  model: embedded-cv-v1
  base_urls: ["${LOOPBACK_URL}"]
  api_key_env: LOOPBACK_KEY
  concurrency: 4
  timeout_s: ${LOOPBACK_TIMEOUT_S:-60}
  max_retries: ${LOOPBACK_RETRIES:-2}
  max_tokens: 4096
text_model:
  backend: openai
  model: embedded-rules-v3
  base_urls: ["${LOOPBACK_URL}"]
  api_key_env: LOOPBACK_KEY
  concurrency: 4
  timeout_s: ${LOOPBACK_TIMEOUT_S:-60}
  max_retries: ${LOOPBACK_RETRIES:-2}
  max_tokens: 2048
captioning:
  window_size: 4
  window_overlap: 1
  # Frames only: the fault tests fail anchor and residual calls independently, and residuals given the
  # anchor context (the default) would wait for the anchors (tests/test_strategies.py covers context).
  residual_context: none
"""


def loopback_project(root: Path, name: str = "loopback") -> Path:
    """A copy of the project's prompts, SQL and profiles plus resources/<name>.yaml (LOOPBACK_PROFILE);
    point CODECVDC_PROJECT_DIR at it."""
    for folder in ("prompts", "sql", "resources"):
        shutil.copytree(PROJECT / folder, root / folder)
    (root / "resources" / f"{name}.yaml").write_text(LOOPBACK_PROFILE)
    return root
