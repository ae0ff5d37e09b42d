"""PySceneDetect's ContentDetector default frame score and flash filter, a batch of frames at a time.

The library splits the HSV image of each frame and takes three int32 numpy passes per channel pair; at
low resolution that per-frame cost exceeds decoding (a 160x90 clip: ~130 us of ~170 us per frame).
scan.py scores frames a batch at a time instead (`BatchScorer`: one HSV conversion and one absdiff for
a whole batch stacked into one tall image, the differences summed exactly by `cv2.sumElems`, integer
sums far below 2**53) and feeds the scores to the library's flash filter through `CutFilter`, which
skips the calls that cannot change its state or output. tests/test_segmentation_real.py checks scores
and cuts against the library's on real clips.
"""

from __future__ import annotations

import cv2
import numpy as np
from scenedetect import ContentDetector, FrameTimecode
from scenedetect.detector import FlashFilter


class BatchScorer:
    """ContentDetector's default frame score (hue, saturation and value weighted 1, no edges) for a
    run of frames at once: `scores(stacked, n)` takes n BGR analysis images stacked vertically into one
    array and returns their n scores, continuing from the previous batch (the first frame scores 0.0,
    as in the library). HSV is a per-pixel conversion and the differences of adjacent frames are one
    absdiff of the stack against itself shifted by a frame, so the numbers are the library's exactly;
    the weighting repeats the library's float operations in the same order, elementwise."""

    def __init__(self) -> None:
        weights = ContentDetector.DEFAULT_COMPONENT_WEIGHTS
        self._weights = weights[:3]
        self._edge_weight = weights.delta_edges
        self._weight_sum = sum(abs(w) for w in weights)
        self._last: np.ndarray | None = None  # HSV image of the previous batch's last frame

    def scores(self, stacked_bgr: np.ndarray, n: int) -> list[float]:
        hsv = cv2.cvtColor(stacked_bgr, cv2.COLOR_BGR2HSV)
        h = hsv.shape[0] // n
        sums = np.zeros((n, 3))
        if self._last is not None:
            sums[0] = cv2.sumElems(cv2.absdiff(hsv[:h], self._last))[:3]
        if n > 1:
            diff = cv2.absdiff(hsv[h:], hsv[:-h])  # frame i+1 against frame i, for the whole batch
            for i in range(n - 1):
                sums[i + 1] = cv2.sumElems(diff[i * h : (i + 1) * h])[:3]
        first_is_start = self._last is None
        self._last = hsv[-h:]
        components = sums / float(h * hsv.shape[1])
        w_hue, w_sat, w_lum = self._weights
        # The library's sum(component * weight) / sum(|weight|), with the zero edge component last.
        weighted = components[:, 0] * w_hue + components[:, 1] * w_sat + components[:, 2] * w_lum
        weighted = (weighted + 0.0 * self._edge_weight) / self._weight_sum
        if first_is_start:
            weighted[0] = 0.0
        return weighted.tolist()


class CutFilter:
    """PySceneDetect's FlashFilter applied to precomputed scores, as ContentDetector.process_frame
    applies it (a frame is "above" when its score reaches the threshold), but only called where it can
    act. Frame numbers must be consecutive. Below the threshold the filter only ever acts on the frame
    exactly `min_scene_len` frames after the last frame above it (MERGE may then emit the merged cut);
    every other below-threshold call returns nothing and changes nothing, and costs a FrameTimecode and
    a few comparisons, which at 160x90 is a fifth of a frame's decode. tests/test_segmentation_real.py
    checks the cuts against the unskipped filter and the library's detector."""

    def __init__(
        self, threshold: float, min_scene_len: int, fps: float, mode: FlashFilter.Mode = FlashFilter.Mode.MERGE
    ) -> None:
        if not isinstance(min_scene_len, int):  # a length in seconds would need another skip rule
            raise TypeError("min_scene_len must be a frame count")
        self.threshold = threshold
        self._filter = FlashFilter(mode=mode, length=min_scene_len)
        self._length = min_scene_len
        self._fps = fps
        self._last_above: int | None = None  # mirrors the filter's own (set on its first call)

    @property
    def event_buffer_length(self) -> int:
        """How many frames late a cut can be reported (ContentDetector.event_buffer_length)."""
        return self._filter.max_behind

    def cuts(self, frame_num: int, score: float) -> list[int]:
        above = score >= self.threshold
        if not above and self._last_above is not None and frame_num - self._last_above != self._length:
            return []
        if above or self._last_above is None:
            self._last_above = frame_num
        return [tc.frame_num for tc in self._filter.filter(FrameTimecode(frame_num, self._fps), above)]
