"""`codecvdc worker`: a dagster-celery worker for this code location, configured from the profile.

dagster-celery's worker (`dagster-celery worker start -A dagster_celery.app -y CONFIG`) reads the same
`execution.config` block the executor gets (broker, backend, config_source); it is written here from the
profile's `executor` section, so the coordinator and every worker host agree on the broker by
construction. A step's task names the reconstructable job (codecvdc_assets.definitions for CLI runs,
the workspace's code location for UI/daemon runs) and the instance; the worker rebuilds the definitions
with its own $CODECVDC_HOME and the profile in CODECVDC_PROFILE.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Any

import yaml

DEFAULT_QUEUE = "dagster"  # dagster-celery's default queue (a step's `dagster-celery/queue` tag overrides it)


class WorkerSetupError(ValueError):
    pass


def celery_section(profile: dict[str, Any]) -> dict[str, Any]:
    """The profile's celery executor config; a clear error for any other profile."""
    section = profile.get("executor") or {}
    if section.get("kind") != "celery":
        raise WorkerSetupError(
            f"profile {profile.get('name', '?')!r} has no celery executor (executor.kind: "
            f"{section.get('kind') or 'none'}); use --profile celery or a profile that extends it"
        )
    config = dict(section.get("config") or {})
    if not config.get("broker"):
        raise WorkerSetupError(f"profile {profile.get('name', '?')!r}: executor.config.broker is empty")
    return config


def write_worker_config(profile: dict[str, Any], dagster_home: Path) -> Path:
    """The worker's config YAML under the Dagster home, named by its content (one file per setting)."""
    text = yaml.safe_dump({"execution": {"config": celery_section(profile)}}, sort_keys=True)
    path = dagster_home / f"celery-worker-{hashlib.sha256(text.encode()).hexdigest()[:12]}.yaml"
    if not path.exists():
        path.write_text(text)
    return path


def worker_argv(config: Path, queue: str, concurrency: int, name: str | None, loglevel: str) -> list[str]:
    """dagster-celery's worker command; arguments after ``--`` go to `celery worker` itself."""
    argv = [sys.executable, "-m", "dagster_celery.cli", "worker", "start", "-A", "dagster_celery.app"]
    argv += ["-y", str(config), "-q", queue, "-l", loglevel]
    if name:
        argv += ["-n", name]
    return [*argv, "--", "--concurrency", str(concurrency), "--without-gossip", "--without-mingle"]


def worker_env(base: dict[str, str], home: Path, profile: str) -> dict[str, str]:
    """The worker's environment: the profile and home, and this interpreter's bin folder first on PATH
    (dagster-celery starts `celery` by name)."""
    bin_dir = str(Path(sys.executable).parent)
    path = base.get("PATH", "")
    return {**base, "CODECVDC_HOME": str(home), "CODECVDC_PROFILE": profile, "PATH": os.pathsep.join([bin_dir, path])}
