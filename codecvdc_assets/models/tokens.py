"""Token counts for the embedded backend, which has no tokenizer of its own.

Text: words and punctuation marks (a close, slightly low estimate of BPE counts for English).
Images: one token per 28x28 patch, as Qwen2-VL-class models count them.
"""

from __future__ import annotations

import math
import re

import cv2
import numpy as np

_TOKEN = re.compile(r"\w+|[^\w\s]")


def count_text(text: str) -> int:
    # Counted without a list of the tokens: a 2-hour video's per-second captions are ~10^6 of them.
    return sum(1 for _ in _TOKEN.finditer(text))


def count_image(jpeg: bytes) -> int:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_8)
    if image is None:
        return 0
    h, w = image.shape[:2]  # 1/8 scale; patches counted at full scale
    return math.ceil(w * 8 / 28) * math.ceil(h * 8 / 28)
