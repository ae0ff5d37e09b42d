"""The provenance an export's card records: project version, prompt hashes, current asset code versions."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from codecvdc_assets.captioning.prompts import prompt_hash, prompt_path
from codecvdc_assets.export.card import Provenance

PROMPTS = {"anchors": "anchor", "residuals": "residual", "scene_narratives": "scene", "video_narratives": "video"}


def project_version() -> str:
    try:
        return version("codecvdc")
    except PackageNotFoundError:
        return "unknown"


def provenance(code_versions: dict[str, str]) -> Provenance:
    """`code_versions`: asset name -> the code version the running code location gives it."""
    prompts = {}
    for asset, task in PROMPTS.items():
        path = prompt_path(task)
        prompts[asset] = f"`prompts/{path.name}` `{prompt_hash(task)}`" if path.exists() else "(missing)"
    return Provenance(project_version(), dict(code_versions), prompts)
