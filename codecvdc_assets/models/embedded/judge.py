"""Rule-based LongCaption-Bench judges for the embedded backend: deterministic surface statistics of the
text, an offline floor, not a judgement of truth (it cannot see the video).

Quality (`lc_quality`), each dimension 1 + 4 x a share in [0, 1], rounded:
- relevance: share of sentences with at least two content words (not filler);
- accuracy: 1 - share of sentences that repeat an earlier sentence (repetition loops are the failure mode
  the benchmark reports for long outputs);
- coherence: share of adjacent sentence pairs that share a content word or start with a connective (a single
  sentence: 0.5, nothing to judge);
- clarity: share of sentences of 6-40 words, times min(1, content words per sentence / 8) (detail);
- breadth_and_depth: distinct content words / 150, capped at 1;
- reading_experience: distinct / all content words (type-token ratio), times min(1, content words / 40)
  (a line or two is no reading experience).
Relevance (`lc_relevance`): 1 + 4 x F1 of the content words of prediction and reference, rounded.
"""

from __future__ import annotations

import re
from typing import Any

_WORD = re.compile(r"[a-z0-9]+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_FILLER = set(
    """a an the of and or to in on at by for with from is are was were be been being it its this that these those
    there their his her they he she as into than then over under after before while during video clip scene
    shows shown showing can see seen also very some any which who what""".split()
)
_CONNECTIVES = ("then", "next", "after", "afterwards", "later", "finally", "meanwhile", "first", "at ", "from ")


def _content(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _FILLER]


def _scale(share: float) -> int:
    return int(round(1 + 4 * min(1.0, max(0.0, share))))


def quality(data: dict[str, Any]) -> dict[str, Any]:
    text = str(data.get("response", "")).strip()
    sentences = [s for s in _SENTENCE.split(text) if s.strip()]
    if not sentences:
        return {"analysis": "Empty response.", **dict.fromkeys(_dims(), 1)}
    words = [_content(s) for s in sentences]
    every = [w for ws in words for w in ws]
    seen: set[str] = set()
    repeats = 0
    for s in sentences:
        key = " ".join(_WORD.findall(s.lower()))
        repeats += key in seen
        seen.add(key)
    pairs = list(zip(sentences, sentences[1:], strict=False))
    linked = sum(bool(set(_content(a)) & set(_content(b))) or b.lower().startswith(_CONNECTIVES) for a, b in pairs)
    lengths = [len(_WORD.findall(s.lower())) for s in sentences]
    scores = {
        "relevance": _scale(sum(len(ws) >= 2 for ws in words) / len(sentences)),
        "accuracy": _scale(1 - repeats / len(sentences)),
        "coherence": _scale(linked / len(pairs) if pairs else 0.5),
        "clarity": _scale(
            sum(6 <= n <= 40 for n in lengths) / len(sentences) * min(1.0, len(every) / len(sentences) / 8)
        ),
        "breadth_and_depth": _scale(len(set(every)) / 150),
        "reading_experience": _scale(len(set(every)) / len(every) * min(1.0, len(every) / 40) if every else 0.0),
    }
    analysis = (
        f"{len(sentences)} sentences, {len(every)} content words ({len(set(every))} distinct), "
        f"{repeats} repeated sentence(s). Rule-based floor: surface statistics only."
    )
    return {"analysis": analysis, **scores}


def relevance(data: dict[str, Any]) -> dict[str, Any]:
    prediction, reference = (
        set(_content(str(data.get("prediction", "")))),
        set(_content(str(data.get("reference", "")))),
    )
    shared = len(prediction & reference)
    p = shared / len(prediction) if prediction else 0.0
    r = shared / len(reference) if reference else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {
        "rationale": f"{shared} of {len(reference)} reference content words appear (F1 {f1:.2f}); rule-based floor.",
        "score": _scale(f1),
    }


def _dims() -> list[str]:
    from codecvdc_assets.models.task_schemas import LC_DIMENSIONS

    return LC_DIMENSIONS
