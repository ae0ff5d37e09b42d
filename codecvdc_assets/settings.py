"""Where things live: the project folder, $CODECVDC_HOME, the Dagster home, and deployment profiles.

A profile is ``resources/<name>.yaml`` or a path to any YAML file (a name ending in .yaml/.yml or
containing a slash), so users can keep their own profile outside the project. ``${VAR}`` and
``${VAR:-default}`` in it are replaced from the environment when it is loaded. ``extends: <name>`` starts
from another profile (mappings are merged key by key, anything else is replaced). Secrets never go into a
profile: resources read them via dg.EnvVar.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import yaml

DEFAULT_PROFILE = "embedded"
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def project_dir() -> Path:
    """The checkout holding prompts/, sql/ and resources/ (the package is installed editable)."""
    override = os.environ.get("CODECVDC_PROJECT_DIR")
    root = Path(override) if override else Path(__file__).resolve().parents[1]
    if not (root / "sql").is_dir():
        raise RuntimeError(f"{root} has no sql/ folder: set CODECVDC_PROJECT_DIR to the CodecVDC checkout")
    return root


def codecvdc_home() -> Path:
    home = Path(os.environ.get("CODECVDC_HOME", ".codecvdc")).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def dagster_home(home: Path | None = None) -> Path:
    """$CODECVDC_HOME/dagster with the instance settings of resources/dagster.yaml, or of the file named
    by CODECVDC_DAGSTER_YAML, else by the active profile's `instance` key (the celery profile names
    resources/dagster-postgres.yaml: every host must share one instance); sets DAGSTER_HOME."""
    target = (home or codecvdc_home()) / "dagster"
    target.mkdir(parents=True, exist_ok=True)
    settings = target / "dagster.yaml"
    chosen = os.environ.get("CODECVDC_DAGSTER_YAML")
    where = "CODECVDC_DAGSTER_YAML"
    if not chosen:
        chosen, where = load_profile().get("instance"), f"profile {profile_name()}, instance"
    source = Path(chosen).expanduser() if chosen else project_dir() / "resources" / "dagster.yaml"
    if not source.is_absolute():
        source = project_dir() / source
    if not source.is_file():
        raise FileNotFoundError(f"{where}: no instance settings file {source}")
    if not settings.exists() or settings.read_bytes() != source.read_bytes():
        shutil.copyfile(source, settings)
    os.environ["DAGSTER_HOME"] = str(target)
    return target


def profile_name() -> str:
    return os.environ.get("CODECVDC_PROFILE", DEFAULT_PROFILE)


def load_profile(name: str | None = None) -> dict[str, Any]:
    name = name or profile_name()
    data = _load(name, [])
    data["name"] = name
    return data


def is_profile_path(name: str) -> bool:
    return name.endswith((".yaml", ".yml")) or "/" in name or os.sep in name


def profile_path(name: str) -> Path:
    """The file of a profile: a path as given (relative to the working directory), else resources/<name>.yaml."""
    if is_profile_path(name):
        path = Path(name).expanduser().resolve()
        if not path.is_file():
            raise FileNotFoundError(f"profile {name}: no such file")
        return path
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise ValueError(f"invalid profile name {name!r}")
    path = project_dir() / "resources" / f"{name}.yaml"
    if not path.exists():
        available = sorted(p.stem for p in path.parent.glob("*.yaml") if not p.stem.startswith("dagster"))
        raise FileNotFoundError(f"no profile {name!r} ({path}); available: {', '.join(available)}")
    return path


def _load(name: str, seen: list[str]) -> dict[str, Any]:
    key = str(profile_path(name)) if is_profile_path(name) else name
    if key in seen:
        raise ValueError(f"profile {name!r} extends itself ({' -> '.join([*seen, key])})")
    path = profile_path(name)
    text = _ENV.sub(lambda m: os.environ.get(m.group(1), m.group(2) or ""), path.read_text())
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a profile must be a mapping")
    base = data.pop("extends", None)
    if base and is_profile_path(str(base)) and not Path(str(base)).expanduser().is_absolute():
        base = str(path.parent / str(base))  # a path in `extends` is relative to the profile naming it
    return _merge(_load(str(base), [*seen, key]), data) if base else data


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        both = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = _merge(merged[key], value) if both else value
    return merged
