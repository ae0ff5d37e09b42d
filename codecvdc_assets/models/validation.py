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
    return data, None
