"""Run a command in its own process group, forward SIGINT/SIGTERM to the whole group, leave nothing behind.

`dagster dev` starts the webserver and the daemon, and they start code servers; signalling only the
`dagster dev` process (or only ours) leaves those running. The child gets its own session, so a Ctrl-C in
the terminal reaches it only through us, once; on the way out the group is killed after a grace period.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence

GRACE_S = 8.0  # dagster dev shuts its processes down in a few seconds; then the group is killed
LEFTOVER_GRACE_S = 3.0  # for members still alive once the leader is gone (15 s in all at most)


def run_forwarding_signals(
    cmd: Sequence[str], cwd: str | os.PathLike | None = None, env: Mapping[str, str] | None = None
) -> int:
    """Run `cmd` as the leader of a new session; returns its exit code (128 + signal when stopped)."""
    proc = subprocess.Popen(list(cmd), cwd=cwd, env=dict(env) if env is not None else None, start_new_session=True)
    received: list[tuple[int, float]] = []  # (signal, when) of the first signal

    def forward(signum: int, _frame) -> None:
        if not received:
            received.append((signum, time.monotonic()))
        signal_group(proc.pid, signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while True:
            try:
                code = proc.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if received and time.monotonic() - received[0][1] > GRACE_S:
                    signal_group(proc.pid, signal.SIGKILL)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        end_group(proc.pid, LEFTOVER_GRACE_S)
    return 128 + received[0][0] if received else code


def signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def group_members(pgid: int) -> list[int]:
    """Live processes of a process group (Linux /proc), zombies excluded."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = open(f"/proc/{entry}/stat").read()  # noqa: SIM115 - tiny read
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry))
    return members


def end_group(pgid: int, grace_s: float = LEFTOVER_GRACE_S) -> None:
    """TERM what is left of the group, wait up to `grace_s`, then KILL."""
    if not group_members(pgid):
        return
    signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    signal_group(pgid, signal.SIGKILL)
