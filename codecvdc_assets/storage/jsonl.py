"""Reading the JSONL input files users hand to the CLI (answers, votes, captions, references).

One reader, so every command words the faults the same way: `PATH: <OS reason>`, `PATH:N: not JSON
(<reason>)`, `PATH:N: not a JSON object`. The caller passes its own error class (CliError, CaptionsError,
DenseInputError) and checks the fields it needs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def jsonl_rows(path: str | Path, error: type[Exception]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) for every non-blank line of `path`; faults raise `error` with a one-line message."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise error(f"{path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise error(f"{path}:{n}: not JSON ({exc.msg})") from exc
        if not isinstance(row, dict):
            raise error(f"{path}:{n}: not a JSON object")
        yield n, row
