"""CodecVDC: CodecCap dense video captioning as a Dagster data platform."""

__version__ = "0.1.0"
