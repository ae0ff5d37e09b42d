"""Parse a model's answer and validate it against the request's JSON schema."""

from __future__ import annotations

import functools
import json
from typing import Any

import jsonschema


@functools.lru_cache(maxsize=64)
def _validator(schema_json: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(schema_json))


def parse_answer(text: str, schema: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """(data, None) for a valid answer, else (None, a one-line reason)."""
    if not text or not text.strip():
        return None, "empty answer"
    body = text.strip()
    if body.startswith("```"):  # tolerate a fenced answer
        body = body.strip("`")
        body = body[4:] if body.startswith("json") else body
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc.msg} at char {exc.pos})"
    validator = _validator(json.dumps(schema, sort_keys=True))
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(root)"
        return None, f"schema violation at {where}: {first.message}"
    blank = _blank(data, schema, "")
    if blank is not None:  # minLength counts spaces: a caption of blanks would become an empty caption
        return None, f"blank text at {blank or '(root)'}"
    return data, None


def _blank(value: Any, schema: dict[str, Any], where: str) -> str | None:
    """The path of the first string that must not be empty (minLength >= 1) but is only whitespace."""
    if isinstance(value, str):
        return where if schema.get("minLength", 0) >= 1 and not value.strip() else None
    if isinstance(value, dict):
        for name, sub in (schema.get("properties") or {}).items():
            if name in value and (found := _blank(value[name], sub, f"{where}/{name}".lstrip("/"))) is not None:
                return found
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            if (found := _blank(item, schema["items"], f"{where}/{i}".lstrip("/"))) is not None:
                return found
    return None
