"""`codecvdc ui`'s signal handling (process_group.py) on a real process tree: SIGINT reaches every process
of the child's group, one that ignores it is killed after the grace period, and nothing is left.
(tests/test_live_daemon.py stops a real `codecvdc ui` with SIGTERM.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from support.dagster_live import alive, descendants, wait_for

from codecvdc_assets.runs.process_group import GRACE_S, LEFTOVER_GRACE_S, end_group

# The child: two workers that stop on SIGINT and one that ignores SIGINT and SIGTERM (a stuck code server).
CHILD = textwrap.dedent(
    """
    import signal, subprocess, sys, time
    sleepers = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"]) for _ in range(2)]
    stuck = "import signal, time; [signal.signal(s, signal.SIG_IGN) for s in (2, 15)]; time.sleep(300)"
    subprocess.Popen([sys.executable, "-c", stuck])
    time.sleep(300)
    """
)
PARENT = (
    "import sys; from codecvdc_assets.runs.process_group import run_forwarding_signals; "
    f"sys.exit(run_forwarding_signals([sys.executable, '-c', {CHILD!r}]))"
)


def test_sigint_ends_the_whole_group_within_15_s() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], start_new_session=True)
    try:
        wait_for("the child and its three workers", lambda: len(descendants(parent.pid)) >= 4, 60, 0.2)
        seen = descendants(parent.pid)
        started = time.monotonic()
        parent.send_signal(signal.SIGINT)
        code = parent.wait(timeout=20)
        took = time.monotonic() - started
        assert code == 128 + signal.SIGINT
        assert took < 15 and took < GRACE_S + LEFTOVER_GRACE_S + 2, took
        time.sleep(0.3)
        assert alive(seen) == set()  # the worker ignoring SIGINT and SIGTERM too
    finally:
        for pid in alive(descendants(parent.pid)):
            end_group(os.getpgid(pid), grace_s=1)
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=10)
