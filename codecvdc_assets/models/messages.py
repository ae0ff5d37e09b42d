"""OpenAI-style chat messages: images as JPEG data URIs; canonical forms for hashing."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

_DATA_URI = re.compile(r"^data:image/[a-z+.-]+;base64,(.*)$", re.S)


def image_part(jpeg: bytes) -> dict[str, Any]:
    return {
        "type": "image_url",
        "image_url": {"url": "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()},
    }


def text_part(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def system(text: str) -> dict[str, Any]:
    return {"role": "system", "content": text}


def user(*parts: dict[str, Any] | str) -> dict[str, Any]:
    content = [text_part(p) if isinstance(p, str) else p for p in parts]
    return {"role": "user", "content": content}


def images(messages: list[dict[str, Any]]) -> list[bytes]:
    """The decoded images of every message, in order."""
    found = []
    for part in _parts(messages):
        if part.get("type") == "image_url":
            match = _DATA_URI.match(part["image_url"]["url"])
            if match:
                found.append(base64.b64decode(match.group(1)))
    return found


def texts(messages: list[dict[str, Any]], role: str | None = None) -> list[str]:
    out = []
    for message in messages:
        if role and message.get("role") != role:
            continue
        content = message.get("content")
        if isinstance(content, str):
            out.append(content)
        elif isinstance(content, list):
            out.extend(p["text"] for p in content if p.get("type") == "text")
    return out


def json_block(data: object) -> str:
    """Structured input for a prompt: a fenced ```json block (json_blocks reads it back; a real LLM reads it too)."""
    return "```json\n" + json.dumps(data, ensure_ascii=False) + "\n```"


def json_blocks(text: str) -> list[Any]:
    """Fenced ```json blocks of a prompt (how structured inputs travel inside messages)."""
    blocks = []
    for body in re.findall(r"```json\s*(.*?)```", text, re.S):
        try:
            blocks.append(json.loads(body))
        except json.JSONDecodeError:
            continue
    return blocks


def canonical(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages with every image replaced by the sha256 of its bytes (for cache keys and logs)."""
    out = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            parts = []
            for part in content:
                if part.get("type") == "image_url":
                    url = part["image_url"]["url"]
                    match = _DATA_URI.match(url)
                    digest = hashlib.sha256(base64.b64decode(match.group(1)) if match else url.encode()).hexdigest()
                    parts.append({"type": "image_sha256", "sha256": digest})
                else:
                    parts.append(part)
            content = parts
        out.append({**message, "content": content})
    return out


def _parts(messages: list[dict[str, Any]]):
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            yield from content
