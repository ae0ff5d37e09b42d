"""`codecvdc serve-embedded` answers plain chat requests (no response_format, as the openai client sends
them by default) with plain text: a description of one image, the changes between several, a text reply
for text. The real `openai` client against the command's own process on a free loopback port."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import cv2
import numpy as np
import openai
import pytest

from codecvdc_assets.models.embedded.backend import TEXT_MODEL, VISION_MODEL
from codecvdc_assets.models.embedded.vision import describe_frame
from codecvdc_assets.models.messages import image_part
from codecvdc_assets.models.server import free_port


@pytest.fixture(scope="module")
def client() -> Iterator[openai.OpenAI]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "codecvdc_assets.cli", "serve-embedded", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        api = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0, timeout=30)
        deadline = time.monotonic() + 60
        while True:
            try:
                api.models.list()
                break
            except openai.APIConnectionError:
                assert time.monotonic() < deadline and proc.poll() is None, "serve-embedded did not start"
                time.sleep(0.3)
        yield api
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def square_at(x: int, colour: tuple[int, int, int] = (0, 0, 230)) -> bytes:
    """A 320x240 grey picture with a red square whose left edge is at `x`."""
    image = np.full((240, 320, 3), 90, np.uint8)
    cv2.rectangle(image, (x, 90), (x + 60, 150), colour, -1)
    return cv2.imencode(".jpg", image)[1].tobytes()


def ask(client: openai.OpenAI, model: str, *parts) -> str:
    content = [{"type": "text", "text": p} if isinstance(p, str) else p for p in parts]
    reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": content}])
    assert reply.choices[0].finish_reason == "stop" and reply.usage.completion_tokens > 0
    return reply.choices[0].message.content


def test_one_image_gets_its_description(client: openai.OpenAI) -> None:
    jpeg = square_at(30)
    text = ask(client, VISION_MODEL, "Describe this image.", image_part(jpeg))
    assert text == describe_frame(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR))["caption"]
    assert "red" in text.lower()
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)  # plain text, not the anchor task's JSON


def test_several_images_get_the_changes(client: openai.OpenAI) -> None:
    frames = [square_at(x) for x in (20, 90, 160)]
    text = ask(client, VISION_MODEL, "What changes?", *(image_part(f) for f in frames))
    lines = text.splitlines()
    assert [line.split(":")[0] for line in lines] == ["Frames 1-2", "Frames 2-3"], text
    assert all("right" in line for line in lines), text  # the square moves right in both pairs


def test_text_gets_a_text_reply(client: openai.OpenAI) -> None:
    question = {
        "caption": "A red square moves rightward across the frame.",
        "question": "Which way does the red square move?",
        "options": {"A": "to the left", "B": "to the right", "C": "up", "D": "it does not move"},
    }
    answered = ask(client, TEXT_MODEL, "Answer from the caption.\n```json\n" + json.dumps(question) + "\n```")
    assert answered.startswith("Answer: B."), answered
    scenes = {"scenes": [{"segment_idx": 0, "start_s": 0, "end_s": 4, "narrative": "A red square moves right."}]}
    narrated = ask(client, TEXT_MODEL, "```json\n" + json.dumps(scenes) + "\n```")
    assert narrated.startswith("The video has 1 scene. Scene 1 (0-4 s): A red square moves right."), narrated
    free = ask(client, TEXT_MODEL, "Hello, what can you do?")
    assert TEXT_MODEL in free and "question" in free


def test_json_requests_still_need_a_task(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="the task"):
        client.chat.completions.create(
            model=TEXT_MODEL,
            messages=[{"role": "user", "content": "hi"}],
            response_format={"type": "json_object"},
        )
