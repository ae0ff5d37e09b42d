"""Prompt files (`prompts/<task>.md`): their text and a content hash for asset versions."""

from __future__ import annotations

import hashlib
from pathlib import Path

from codecvdc_assets.settings import project_dir


def prompt_path(task: str) -> Path:
    return project_dir() / "prompts" / f"{task}.md"


def load_prompt(task: str) -> str:
    path = prompt_path(task)
    if not path.exists():
        raise FileNotFoundError(f"{path}: prompt file missing")
    return path.read_text()


def prompt_hash(task: str) -> str:
    return hashlib.sha256(load_prompt(task).encode()).hexdigest()[:16]
