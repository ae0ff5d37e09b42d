"""Which process wrote something: ``host:pid:start-ticks`` identities, and whether that process still lives.

The start time (clock ticks since boot, from /proc) keeps a reused pid from passing for the original
process. Used for CLI runs killed mid-way (runs/instance.py) and for temp files they left (atomic.py).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path


def start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def process_identity(pid: int | None = None) -> str:
    pid = pid or os.getpid()
    return f"{socket.gethostname()}:{pid}:{start_ticks(pid) or ''}"


def is_alive(host: str, pid: int, ticks: str) -> bool:
    """Whether the process `pid` started at `ticks` on `host` still runs (another host's: assumed alive)."""
    if host != socket.gethostname():
        return True  # another machine's process: not ours to judge
    if Path("/proc").is_dir():
        return ticks != "" and start_ticks(pid) == ticks
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def identity_alive(identity: str) -> bool:
    host, pid, ticks = identity.rsplit(":", 2)
    return is_alive(host, int(pid), ticks)
