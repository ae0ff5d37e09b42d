"""CodecVDC: CodecCap dense video captioning as a Dagster data platform.

Layers, top to bottom (import-linter contracts in pyproject.toml): cli, definitions, defs, runs,
export | evaluation, captioning, models, storage | versioning, schemas, video, settings. Only
definitions, defs, runs and cli import Dagster."""

__version__ = "0.1.0"
