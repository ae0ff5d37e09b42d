"""PySceneDetect's ContentDetector with its default frame score computed in a few OpenCV calls.

The library splits the HSV image and takes three int32 numpy passes per channel pair; at low
resolution that per-frame cost exceeds decoding (a 160x90 clip: ~130 us of ~170 us per frame). The
score is the same number: the mean absolute difference of hue, saturation and value between adjacent
frames, summed exactly (integer sums far below 2**53) by `cv2.absdiff` + `cv2.sumElems`, weighted
and averaged as the library does. Edge weights or a stats manager fall back to the library's code.
tests/test_segmentation_real.py checks the scores against the library's on real clips.

scan.py scores frames a batch at a time (`BatchScorer`: one HSV conversion and one absdiff for a
whole batch stacked into one tall image) and feeds the scores to the library's flash filter through
`CutFilter`, which skips the calls that cannot change its state or output. With `hsv_input=True`
`FastContentDetector.process_frame` takes a frame already converted with `to_hsv`.
"""

from __future__ import annotations

import cv2
import numpy as np
from scenedetect import ContentDetector, FrameTimecode
from scenedetect.detector import FlashFilter


def to_hsv(bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)


class FastContentDetector(ContentDetector):
    _last_hsv: np.ndarray | None = None

    def __init__(self, *args, hsv_input: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.hsv_input = hsv_input
        if hsv_input and self._library_path():
            raise ValueError("hsv_input needs the default score (no edge weight, no stats manager)")

    def _library_path(self) -> bool:
        return self._weights.delta_edges > 0.0 or self.stats_manager is not None

    def _calculate_frame_score(self, timecode: FrameTimecode, frame_img: np.ndarray) -> float:
        if not self.hsv_input and self._library_path():
            return super()._calculate_frame_score(timecode, frame_img)
        hsv = frame_img if self.hsv_input else to_hsv(frame_img)
        last, self._last_hsv = self._last_hsv, hsv
        if last is None:
            return 0.0
        d_hue, d_sat, d_lum, _ = cv2.sumElems(cv2.absdiff(hsv, last))
        pixels = float(hsv.shape[0] * hsv.shape[1])
        components = ContentDetector.Components(d_hue / pixels, d_sat / pixels, d_lum / pixels, 0.0)
        weighted = sum(c * w for c, w in zip(components, self._weights, strict=True))
        return weighted / sum(abs(w) for w in self._weights)


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
