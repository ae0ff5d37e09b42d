"""The gates on a JSONL file of captions made anywhere (`codecvdc quality FILE.jsonl`).

Rows: {"id", "caption"} with optional "prompt" (the instruction the caption answered, for prompt_echo),
"finish_reason" (the API's, for truncated) and "video" (rows of one video: collapse within it, duplicates
across videos; by default every row is its own video).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codecvdc_assets.quality.rows import CaptionRow, flag_rows
from codecvdc_assets.quality.settings import FLAGS, QualitySettings
from codecvdc_assets.storage.jsonl import jsonl_rows


class QualityInputError(ValueError):
    """A caption file the gates cannot read; the message names the file (and line) and the reason."""


_OPTIONAL_TEXT = ("prompt", "finish_reason", "video")


def read_caption_file(path: str | Path) -> list[CaptionRow]:
    rows: list[CaptionRow] = []
    seen: dict[str, int] = {}
    for n, row in jsonl_rows(path, QualityInputError):
        missing = [k for k in ("id", "caption") if k not in row]
        if missing:
            raise QualityInputError(f"{path}:{n}: missing field(s) {', '.join(missing)}")
        if not isinstance(row["id"], str | int) or isinstance(row["id"], bool):
            raise QualityInputError(f"{path}:{n}: id must be a string or an integer")
        key = str(row["id"])
        if key in seen:
            raise QualityInputError(f"{path}:{n}: id {key!r} already on line {seen[key]}")
        seen[key] = n
        if row["caption"] is not None and not isinstance(row["caption"], str):
            raise QualityInputError(f"{path}:{n}: caption must be a string (or null)")
        for field in _OPTIONAL_TEXT:
            if row.get(field) is not None and not isinstance(row[field], str):
                raise QualityInputError(f"{path}:{n}: {field} must be a string")
        rows.append(
            CaptionRow(key, row.get("video") or key, row["caption"], row.get("prompt"), row.get("finish_reason"))
        )
    return rows


def check_caption_file(path: str | Path, settings: QualitySettings) -> list[dict[str, Any]]:
    """[{"id", "flags": [names], "measured": [{flag, value, detail}]}] in file order."""
    rows = read_caption_file(path)
    found = flag_rows(rows, settings)
    return [
        {
            "id": r.key,
            "flags": [f.flag for f in found[r.key]],
            "measured": [f.as_dict() for f in found[r.key]],
        }
        for r in rows
    ]


def format_results(results: list[dict[str, Any]]) -> str:
    """One line per row (`ID  ok` or `ID  flag (detail); flag (detail)`), then the count of each flag."""
    width = max((len(str(r["id"])) for r in results), default=2)
    lines = []
    for r in results:
        text = "; ".join(f"{m['flag']} ({m['detail']})" for m in r["measured"]) or "ok"
        lines.append(f"{str(r['id']):<{width}}  {text}")
    counts = {flag: sum(flag in r["flags"] for r in results) for flag in FLAGS}
    flagged = sum(bool(r["flags"]) for r in results)
    summary = ", ".join(f"{flag} {n}" for flag, n in counts.items() if n) or "none"
    lines.append(f"{flagged} of {len(results)} caption(s) flagged: {summary}")
    return "\n".join(lines)
