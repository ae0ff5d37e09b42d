"""The one error type for unusable video input."""

from __future__ import annotations


def display_path(path: str) -> str:
    """`path` as one printable line: control characters and undecodable bytes (surrogateescape) escaped."""
    out = []
    for ch in path:
        if 0xDC80 <= ord(ch) <= 0xDCFF:  # a byte that was not UTF-8 (os.fsdecode's surrogateescape)
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    return "".join(out)


def ffmpeg_reason(exc: BaseException) -> str:
    """FFmpeg's own words for an error, without PyAV's errno and function-name decoration."""
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(":")[0].strip() if "Errno" in str(exc) and text else text.strip()


class VideoError(Exception):
    """A video that cannot be processed; the message (one line) names the file and the reason."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{display_path(path)}: {' '.join(reason.split())}")
        self.path = path
        self.reason = reason
