"""The executor of daemon-launched runs (UI, sensors, schedules, backfills), chosen by the profile.

```yaml
executor:
  kind: multiprocess      # in_process | multiprocess (one machine) | k8s | celery (across machines)
  config: {max_concurrent: 2}
```

`config` is the executor's own run config (Dagster's docs for each). `k8s` needs `dagster-k8s` and
`celery` needs `dagster-celery` (extras `k8s` / `celery`); they are imported only when asked for, so
a laptop profile never needs them. With no `executor` section Dagster's default (multiprocess) applies.
"""

from __future__ import annotations

import importlib
from typing import Any

import dagster as dg

# kind -> (module, attribute, pip extra) of the executor definition
_KINDS: dict[str, tuple[str, str, str | None]] = {
    "in_process": ("dagster", "in_process_executor", None),
    "multiprocess": ("dagster", "multiprocess_executor", None),
    "k8s": ("dagster_k8s", "k8s_job_executor", "k8s"),
    "celery": ("dagster_celery", "celery_executor", "celery"),
}


def build_executor(section: dict[str, Any] | None) -> dg.ExecutorDefinition | None:
    """The profile's executor definition, configured; None for Dagster's default."""
    if not section:
        return None
    kind = section.get("kind")
    if kind not in _KINDS:
        raise ValueError(f"profile executor kind {kind!r} is not one of {', '.join(_KINDS)}")
    module_name, attribute, extra = _KINDS[kind]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise RuntimeError(
            f"profile executor {kind!r} needs the {module_name} package: pip install 'codecvdc[{extra}]'"
        ) from exc
    executor: dg.ExecutorDefinition = getattr(module, attribute)
    config = section.get("config") or {}
    if not isinstance(config, dict):
        raise ValueError(f"profile executor config must be a mapping, got {type(config).__name__}")
    return executor.configured(config) if config else executor
