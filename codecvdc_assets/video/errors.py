"""The one error type for unusable video input."""

from __future__ import annotations


class VideoError(Exception):
    """A video that cannot be processed; the message names the file and the reason."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
