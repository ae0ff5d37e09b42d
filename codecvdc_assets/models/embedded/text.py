"""Rule-based text models: narratives from accepted evidence, and multiple-choice answers.

Structured inputs travel as fenced ```json blocks inside the prompt (a real LLM reads them too):
- scene: {"anchor": {"caption": ...}, "evidence": [{"t_s", "event", "subject", "change_type", ...}]}
- video: {"scenes": [{"segment_idx", "start_s", "end_s", "narrative"}]}
- qa_answer: {"caption": ..., "question": ..., "options": {"A": ..., ...}}
"""

from __future__ import annotations

import re
from typing import Any

_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")  # keeps zone names such as center-left whole
_STOP = set(
    """a an the of and or to in on at by for with from is are was were be been it its this that these those
    video clip scene shown does do did what which who how when where why there their his her they he she as
    into than then over under after before while during most more""".split()
)
# Words that say the same thing in captions and in questions.
_SYNONYMS = {
    "leftward": "left",
    "rightward": "right",
    "upward": "up",
    "downward": "down",
    "rises": "up",
    "falls": "down",
    "pan": "pans",
    "panning": "pans",
    "panned": "pans",
    "tilt": "tilts",
    "tilting": "tilts",
    "zooming": "zooms",
    "zoom": "zooms",
    "moving": "moves",
    "move": "moves",
    "moved": "moves",
    "grey": "gray",
    "brighter": "bright",
    "darker": "dark",
    "appear": "appears",
    "appeared": "appears",
    "disappear": "disappears",
    "colour": "colours",
    "color": "colours",
    "colors": "colours",
    "shots": "scenes",
    "shot": "scenes",
    "scene": "scenes",
    "still": "none",
    "static": "none",
    # ordinals and number words, so "the first scene" meets "Scene 1" and "three" meets "3"
    "first": "1",
    "second": "2",
    "third": "3",
    "fourth": "4",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
}


def scene_narrative(data: dict[str, Any]) -> str:
    anchor = (data.get("anchor") or {}).get("caption", "").strip()
    sentences = [x for x in re.split(r"(?<=[.!?])\s+", anchor) if x]
    # The anchor's overview and its entities; the per-zone layout list stays in the anchor caption.
    keep = sentences[:1] + [x for x in sentences[1:] if x.startswith(("A ", "An ")) and " at " in x][:3]
    parts = [" ".join(keep)] if keep else []
    for t0, t1, text in _group_events(data.get("evidence") or []):
        when = f"At {t0:.0f} s" if t1 - t0 < 0.5 else f"From {t0:.0f} s to {t1:.0f} s"
        parts.append(f"{when}, {_lower_first(text.rstrip('.'))}.")
    if len(parts) <= 1:
        parts.append("No change is confirmed in this scene.")
    return " ".join(parts)


def video_narrative(data: dict[str, Any]) -> str:
    """The video narrative (or a chapter of it) from scene narratives (`scenes`) or from chapter narratives
    (`chapters`, each with `n_scenes`), condensed to `target_words` when the input says more."""
    chapters = data.get("chapters")
    if chapters:
        items = sorted(chapters, key=lambda c: c.get("start_s", 0))
        pieces = [p for c in items for p in _split_marked(str(c.get("narrative", "")), _SCENE_MARK)]
        n_scenes = sum(int(c.get("n_scenes") or 1) for c in items)
        span = [int((c.get("segments") or [0, 0])[k]) + 1 for c in (items[0], items[-1]) for k in (0, 1)][::3]
    else:
        items = sorted(data.get("scenes") or [], key=lambda s: s.get("start_s", 0))
        pieces = []
        for i, scene in enumerate(items, 1):
            number = int(scene["segment_idx"]) + 1 if "segment_idx" in scene else i
            span = f"{scene.get('start_s', 0):.0f}-{scene.get('end_s', 0):.0f} s"
            pieces.append((f"Scene {number} ({span}):", str(scene.get("narrative", "")).strip()))
        n_scenes = len(items)
        span = [int(s.get("segment_idx", 0)) + 1 for s in (items[0], items[-1])] if items else [0, 0]
    if not pieces:
        return "The video has no scenes."
    if data.get("part") == "chapter":  # an intermediate level: its scene range, then its scenes
        intro = f"Scenes {span[0]}-{span[1]}."
    else:
        intro = f"The video has {n_scenes} scene{'s' if n_scenes != 1 else ''}."
    return _condense(intro, pieces, data.get("target_words"))


def long_caption(data: dict[str, Any]) -> str:
    """LongCaption-Agent's merge, as rules: the clips in time order, each with its caption, followed by
    the details of its frames that the clip caption does not already state; from `sections` (an earlier
    level's merges) their clip passages; condensed to `target_words` when the input says more."""
    sections = data.get("sections")
    if sections:
        items = sorted(sections, key=lambda c: c.get("start_s", 0))
        pieces = [p for c in items for p in _split_marked(str(c.get("caption", "")), _CLIP_MARK)]
        n_clips = sum(int(c.get("n_clips") or 1) for c in items)
    else:
        timeline = data.get("timeline") or []
        frames_of = {i.get("clip_idx"): i.get("frames") or [] for i in timeline if i.get("kind") == "frames"}
        clips = sorted((i for i in timeline if i.get("kind") == "clip"), key=lambda c: c.get("start_s", 0))
        pieces = []
        for clip in clips:
            text = str(clip.get("caption", "")).strip()
            said = {s.strip() for s in re.split(r"(?<=[.!?])\s+", text)}
            extra = []
            for frame in frames_of.get(clip.get("clip_idx"), []):
                first = re.split(r"(?<=[.!?])\s+", str(frame.get("caption", "")).strip())[0]
                if first and first not in said and first not in extra:
                    extra.append(first)
            body = text + (" Frame details: " + " ".join(extra[:3]) if extra else "")
            pieces.append((f"From {clip.get('start_s', 0):.0f} s to {clip.get('end_s', 0):.0f} s:", body))
        n_clips = len(clips)
    if not pieces:
        return "The video has no captioned clips."
    if data.get("part") == "section":
        intro = f"{n_clips} clip{'s' if n_clips != 1 else ''}."
    else:
        intro = f"The video runs in {n_clips} overlapping clip{'s' if n_clips != 1 else ''}."
    return _condense(intro, pieces, data.get("target_words"))


_SCENE_MARK = re.compile(r"Scene \d+ \([^)]*\):")
_CLIP_MARK = re.compile(r"From \d+ s to \d+ s:")
MIN_PIECE_WORDS = 12  # a header and a few words: below this a piece says nothing
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _split_marked(text: str, mark: re.Pattern[str]) -> list[tuple[str, str]]:
    """An earlier merge's text back into its (header, body) pieces (the intro before the first header goes)."""
    found = list(mark.finditer(text))
    if not found:
        return [("", text.strip())] if text.strip() else []
    ends = [f.start() for f in found[1:]] + [len(text)]
    return [(f.group(0), text[f.end() : end].strip()) for f, end in zip(found, ends, strict=True)]


def _condense(intro: str, pieces: list[tuple[str, str]], target_words: Any) -> str:
    """Intro + every piece in order; over `target_words` words, each piece keeps its first sentences up to
    an equal share of the target (the last kept sentence cut at a word, marked with an ellipsis): a
    condensed text that says less of everything, never a cut-off list. Extractive: nothing is added."""
    full = " ".join([intro, *(f"{h} {b}".strip() for h, b in pieces)])
    target = int(target_words) if isinstance(target_words, int | float) and target_words > 0 else 0
    if not target or len(full.split()) <= target:
        return full
    room_words = max(10, target - len(intro.split()))
    if len(pieces) * MIN_PIECE_WORDS > room_words:  # too many to say each: evenly spread ones, the count said
        keep = max(1, room_words // MIN_PIECE_WORDS - 1)
        chosen = sorted({round(i * (len(pieces) - 1) / max(1, keep - 1)) for i in range(keep)})
        intro += f" {len(pieces) - len(chosen)} of its {len(pieces)} parts are not detailed here."
        pieces = [pieces[i] for i in chosen]
    share = max(4, room_words // len(pieces))
    out = [intro]
    for header, body in pieces:
        room = share - len(header.split())
        kept: list[str] = []
        for sentence in _SENTENCE.split(body):
            words = sentence.split()
            if not words:
                continue
            if len(words) <= room:
                kept.append(sentence)
                room -= len(words)
                continue
            if not kept:
                kept.append(" ".join(words[: max(3, room)]).rstrip(".,;:") + "\u2026")
            break
        out.append(" ".join([header, *kept]).strip())
    return " ".join(x for x in out if x)


def answer_question(data: dict[str, Any]) -> dict[str, str]:
    """Pick the option whose specific words the caption supports, weighting caption sentences by how
    much they share with the question (the sentence about the asked subject counts most)."""
    question = _norm(data.get("question", "")) - _STOP
    options = {k: _norm(v) - _STOP for k, v in (data.get("options") or {}).items()}
    shared = set.intersection(*options.values()) if options else set()
    sentences = [_norm(x) for x in re.split(r"(?<=[.!?])\s+", data.get("caption", "")) if x.strip()]
    # Words of the question and words all options share (e.g. "pans") say which sentences are relevant.
    relevant = question | shared
    weights = [1 + 2 * len(words & relevant) for words in sentences]
    scores: dict[str, float] = {}
    for letter, words in options.items():
        specific = words - shared - question
        if not specific:
            scores[letter] = 0.0
            continue
        scores[letter] = sum(
            # Squared: an option matched whole within one sentence beats one matched piecemeal.
            w * _match(len(specific & s), len(specific))
            for s, w in zip(sentences, weights, strict=True)
        )
    if not scores or max(scores.values()) == 0:
        return {
            "rationale": "No option is supported by the caption.",
            "observation": "none",
            "answer": "unknown",
        }
    best = max(scores.values())
    leaders = [k for k, v in scores.items() if v == best]
    if len(leaders) > 1:
        return {
            "rationale": f"Options {', '.join(leaders)} are equally supported.",
            "observation": "tie",
            "answer": "unknown",
        }
    letter = leaders[0]
    matched = sorted((options[letter] - shared - question) & set().union(*sentences))
    return {
        "rationale": f"The caption mentions {', '.join(matched)}, which supports option {letter}.",
        "observation": ", ".join(matched),
        "answer": letter,
    }


def _match(found: int, wanted: int) -> float:
    """How well one sentence supports an option: squared share of its specific words; a short option
    (one or two words, e.g. "pans right") counts only when the sentence has all of it."""
    share = found / wanted
    if wanted <= 2 and share < 1:
        return 0.0
    return share**2


def _group_events(evidence: list[dict[str, Any]]) -> list[tuple[float, float, str]]:
    """Consecutive evidence with the same subject and text pattern becomes one time span."""
    groups: list[tuple[float, float, str, tuple]] = []
    for item in sorted(evidence, key=lambda e: e.get("t_s", 0)):
        text = item.get("event") or item.get("delta_caption") or ""
        key = (item.get("subject"), item.get("change_type"), item.get("direction"))
        t = float(item.get("t_s", 0))
        t_end = float(item.get("t_end_s", t))
        if groups and groups[-1][3] == key and key[1] in ("continuous", "camera"):
            t0, _, first_text, _ = groups[-1]
            groups[-1] = (t0, t_end, _merge_text(first_text, text), key)
        else:
            groups.append((t, t_end if key[1] in ("continuous", "camera") else t, text, key))
    return [(t0, t1, text) for t0, t1, text, _ in groups]


def _merge_text(first: str, last: str) -> str:
    m0 = re.search(r"from (\S+) to (\S+?)\.?$", first)
    m1 = re.search(r"from (\S+) to (\S+?)\.?$", last)
    if m0 and m1:
        return first[: m0.start()] + f"from {m0.group(1)} to {m1.group(2)}."
    return first


def _norm(text: str) -> set[str]:
    return {_SYNONYMS.get(w, w) for w in _WORD.findall(text.lower())}


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


# Keyword rules for re-labeling, checked in order (the first that matches wins).
_DIMENSION_RULES = [
    ("camera movement", ("camera", "panning", "zoom", "tilt")),
    ("counting", ("how many", "number of", "count")),
    ("rotation", ("rotat", "spin", "clockwise")),
    ("speed", ("speed", "fast", "slow", "quickly")),
    ("temporal sequence", ("before", "after", "first", "then", "order", "sequence", "followed")),
    ("direction", ("direction", "toward", "left", "right", "heading", "moving")),
    ("state change", ("change", "becom", "turn into", "transform")),
    ("attribute recognition", ("colour", "color", "shape", "size", "wearing", "material")),
    ("action recognition", ("doing", "action", "activity", "perform")),
    ("holistic understanding", ("about", "where", "setting", "scene", "theme")),
]


def guess_dimension(data: dict[str, Any]) -> str:
    """The embedded re-labeler: keyword rules over the question (options only break no ties)."""
    question = str(data.get("question", "")).lower()
    for dimension, words in _DIMENSION_RULES:
        if any(w in question for w in words):
            return dimension
    return "unknown"
