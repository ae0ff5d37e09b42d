"""What every command shares: the one-line error contract, the home and definitions, JSONL input, tables."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

EXIT_ERROR = 2


class CliError(Exception):
    pass


def expected_error(exc: BaseException) -> str | None:
    """The one line for an error of the environment or the data (a file system refusing a write, a damaged
    lake file meeting a query, an unreachable store); None for anything else (a bug: its traceback helps)."""
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}"
    if type(exc).__module__.split(".")[0] in ("duckdb", "_duckdb"):  # duckdb.Error and its subclasses
        return str(exc).strip().splitlines()[0]
    if type(exc).__module__.split(".")[0] in ("botocore", "boto3"):  # S3 unreachable, refused, throttled
        return str(exc).strip().splitlines()[0]
    if type(exc).__module__.split(".")[0] in ("sqlalchemy", "sqlite3"):  # the Dagster instance's storage
        where = os.environ.get("DAGSTER_HOME", "the Dagster instance")
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return f"{where}: the instance storage failed: {reason}{_space_hint(where)}"
    return None


def _space_hint(path: str) -> str:
    """ ", no space left on device" when the file system holding `path` is full (SQLite says "disk I/O
    error" or "database or disk is full" for that)."""
    try:
        st = os.statvfs(path)
    except OSError:
        return ""
    return " (No space left on device)" if st.f_bavail * st.f_frsize < 64 * 1024 else ""


def absolute_profile_path() -> None:
    """A profile given as a relative path keeps naming the same file in `dagster dev` (run from the project)."""
    from codecvdc_assets.settings import is_profile_path

    name = os.environ.get("CODECVDC_PROFILE")
    if name and is_profile_path(name):
        os.environ["CODECVDC_PROFILE"] = str(Path(name).expanduser().resolve())


def cli_home() -> Path:
    from codecvdc_assets.settings import codecvdc_home, dagster_home

    try:
        home = codecvdc_home()
        dagster_home(home)  # the instance file may come from the profile
    except ValueError as exc:  # the profile names an instance file that is not usable
        raise CliError(str(exc)) from exc
    except OSError as exc:  # e.g. a path under a regular file, a read-only or full file system
        if not exc.strerror:  # our own message (CODECVDC_DAGSTER_YAML names a missing file)
            raise CliError(str(exc)) from exc
        where = exc.filename or os.environ.get("CODECVDC_HOME", ".codecvdc")
        raise CliError(f"CODECVDC_HOME: {where}: {exc.strerror}") from exc
    return home


def load_definitions(home: Path):
    try:
        from codecvdc_assets.definitions import (
            build_definitions,  # importing builds the default definitions: may fail too
        )

        return build_definitions(home=str(home))
    except (FileNotFoundError, ValueError) as exc:
        raise CliError(str(exc)) from exc


def progress_bar(done: int, total: int, width: int = 24) -> str:
    filled = round(width * done / total) if total else width
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def profile_executor() -> str:
    """The CLI executor the profile implies: celery for a celery profile, else this process."""
    from codecvdc_assets.settings import load_profile

    return "celery" if (load_profile().get("executor") or {}).get("kind") == "celery" else "in_process"


def check_port(host: str, port: int) -> None:
    """Fail in one line when the address cannot be bound (uvicorn would log it and exit with code 3)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise CliError(f"serve-embedded: --host {host}: {exc.strerror or exc}") from exc
    family, *_, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind(address)
        except OSError as exc:
            raise CliError(f"serve-embedded: {host}:{port}: {exc.strerror or exc}") from exc


def read_jsonl(path: str, required: list[str]):
    import pandas as pd

    from codecvdc_assets.storage.jsonl import jsonl_rows

    rows = []
    for n, row in jsonl_rows(path, CliError):
        missing = [k for k in required if k not in row]
        if missing:
            raise CliError(f"{path}:{n}: missing field(s) {', '.join(missing)}")
        rows.append(row)
    return pd.DataFrame(rows, columns=required if not rows else None)


def print_rows(columns: list[str], rows: list[tuple], fmt: str) -> None:
    if fmt == "json":
        print(json.dumps([dict(zip(columns, r, strict=True)) for r in rows], default=str))
    elif fmt == "csv":
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    else:
        print(format_table(columns, [[_cell(v) for v in r] for r in rows]))
        print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")


def _cell(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.0f}"
    return str(value)


def format_table(columns: list[str], rows: list[list]) -> str:
    cells = [[str(c) for c in columns]] + [[str(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
