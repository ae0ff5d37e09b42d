"""Asset code versions: a hash of a logic version constant and the settings that change the output.

Dagster marks an asset stale when its code_version differs from the one recorded at its last
materialization, so a changed parameter (or, later, prompt or model) re-materializes what it affects.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def file_digest(path: str) -> str:
    """A short content hash of a file a version depends on (a bank, an answers table); "missing" if absent."""
    from codecvdc_assets.video.ids import file_sha256

    try:
        return file_sha256(path)[:16]
    except OSError:
        return "missing"


def code_version(logic_version: str, **settings: Any) -> str:
    blob = json.dumps({"logic": logic_version, **settings}, sort_keys=True, default=str)
    return f"{logic_version}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"
