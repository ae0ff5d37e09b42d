"""Dagster resources; a profile in resources/<name>.yaml configures them (see definitions.py)."""

from __future__ import annotations

import os

import dagster as dg

from .storage.frame_store import FrameStore
from .storage.lake import Lake
from .storage.registry import Registry
from .video.segmentation import SegmentParams


class LakeResource(dg.ConfigurableResource):
    """$CODECVDC_HOME: the Parquet lake, the frame store, the video registry."""

    home: str

    def lake(self) -> Lake:
        return Lake(self.home)

    def registry(self) -> Registry:
        return Registry(self.home)

    def frame_store(self) -> FrameStore:
        return FrameStore(os.path.join(self.home, "frames"))

    def frame_uri(self, sha256: str) -> str:
        return os.path.relpath(self.frame_store().path(sha256), self.home)

    def spool_dir(self) -> str:
        path = os.path.join(self.home, "tmp")
        os.makedirs(path, exist_ok=True)
        return path


class SegmentationResource(dg.ConfigurableResource):
    """Segmentation and sampling parameters (CodecCap section 3.2); defaults in SegmentParams."""

    tau_gop: float = SegmentParams.tau_gop
    proximity_s: float = SegmentParams.proximity_s
    min_duration_s: float = SegmentParams.min_duration_s
    max_duration_s: float = SegmentParams.max_duration_s
    all_intra_ratio: float = SegmentParams.all_intra_ratio
    content_threshold: float = SegmentParams.content_threshold
    detector_min_scene_len: int = SegmentParams.detector_min_scene_len
    analysis_width: int = SegmentParams.analysis_width
    sample_fps: float = SegmentParams.sample_fps
    frame_max_side: int = SegmentParams.frame_max_side
    jpeg_quality: int = SegmentParams.jpeg_quality

    def params(self) -> SegmentParams:
        return SegmentParams(**{k: getattr(self, k) for k in SegmentParams.__dataclass_fields__})


class VideoRootsResource(dg.ConfigurableResource):
    """Folders (or files) the video sensor scans."""

    roots: list[str] = []
