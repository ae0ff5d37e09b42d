"""Acceptance rules over structured residuals (CodecCap 3.5), in code, with a reason for every row.

Per segment:
1. Motion claims (`continuous`, `camera`) about one subject on one axis (left/right, up/down,
   toward/away): if opposite directions INTERLEAVE (a claim of one direction lies between two claims of
   the other), that is a contradiction: the direction with more supporting residuals wins and the
   others are rejected; on a tie all are omitted. Non-interleaved opposite runs are a reversal and are
   both kept. Then each run of consecutive claims (pairs removed as contradicted are bridged) is one
   event: accepted with support >= 2, rejected when seen in one residual only.
2. Discrete events (`discrete`) are accepted from one residual when the context is consistent: the
   next residual does not reverse them (appears then disappears = a transient, rejected).
3. Attribute locking: the anchor's entity attributes hold (a `locked` row each) unless a residual of
   type `attribute` changes them (accepted, like a discrete event); a residual of another type that
   states a different value for a locked attribute is rejected.
4. `none` residuals produce no event.
5. A residual the caption quality gates flagged (caption_quality: a loop, a refusal, another language...)
   is never evidence: it is a rejected `quality` row naming its flags, and it supports no other claim.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from codecvdc_assets.models.embedded.colours import NAMES as COLOUR_NAMES

AXES = {
    "left": ("h", 1),
    "right": ("h", -1),
    "up": ("v", 1),
    "down": ("v", -1),
    "toward camera": ("d", 1),
    "away from camera": ("d", -1),
}
COLOURS = set(COLOUR_NAMES) | {"grey"}  # the spatial/colour vocabulary of DESIGN.md section 4
STATES = [
    {"open", "closed"},
    {"on", "off"},
    {"lit", "dark"},
    {"standing", "sitting", "lying"},
    {"empty", "full"},
]


@dataclass(frozen=True)
class Residual:
    pair_idx: int
    t_prev_s: float
    t_s: float
    delta_caption: str
    change_type: str
    subject: str
    zone_from: str
    zone_to: str
    direction: str


@dataclass
class Event:
    segment_idx: int
    t_start_s: float
    t_end_s: float
    event: str
    change_type: str
    subject: str
    direction: str
    zone_from: str
    zone_to: str
    support: int
    accepted: bool
    rule: str
    reason: str
    first_pair: int = -1

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


def accept(
    segment_idx: int,
    residuals: list[Residual],
    anchor_entities: list[dict] | None = None,
    flagged: dict[int, str] | None = None,
) -> list[Event]:
    """All candidate events of one segment, accepted or not, in time order. `flagged`: pair_idx -> the
    quality flags of that residual (rule 5)."""
    residuals = sorted(residuals, key=lambda r: r.pair_idx)
    flagged = flagged or {}
    events: list[Event] = [
        _event(segment_idx, [r], False, "quality", f"flagged residual: {flagged[r.pair_idx]}")
        for r in residuals
        if r.pair_idx in flagged
    ]
    residuals = [r for r in residuals if r.pair_idx not in flagged]
    events += _motion(segment_idx, [r for r in residuals if r.change_type in ("continuous", "camera")])
    events += _discrete(segment_idx, [r for r in residuals if r.change_type == "discrete"])
    events += _attributes(segment_idx, residuals, anchor_entities or [])
    return sorted(events, key=lambda e: (e.t_start_s, e.first_pair, e.rule))


def _subject(r: Residual) -> str:
    return r.subject.strip().lower()


def _motion(segment_idx: int, claims: list[Residual]) -> list[Event]:
    events: list[Event] = []
    groups: dict[tuple[str, str, str], list[Residual]] = {}
    for r in claims:
        if r.direction not in AXES:  # motion without a direction is a single unsupported claim
            events.append(_event(segment_idx, [r], False, "continuous", "motion without a direction"))
            continue
        axis, _ = AXES[r.direction]
        groups.setdefault((r.change_type, _subject(r), axis), []).append(r)
    for group in groups.values():
        kept, removed = _resolve_contradiction(group)
        for r, reason in removed:
            events.append(_event(segment_idx, [r], False, "contradiction", reason))
        removed_pairs = {r.pair_idx for r, _ in removed}
        for run in _runs(kept, removed_pairs):
            support = len(run)
            if support >= 2:
                events.append(_event(segment_idx, run, True, "continuous", f"seen in {support} consecutive residuals"))
            else:
                events.append(
                    _event(
                        segment_idx,
                        run,
                        False,
                        "continuous",
                        "continuous change seen in only one residual (needs 2 consecutive)",
                    )
                )
    return events


def _resolve_contradiction(group: list[Residual]) -> tuple[list[Residual], list[tuple[Residual, str]]]:
    directions = {r.direction for r in group}
    if len(directions) < 2 or not _interleaved([r.direction for r in group]):
        return group, []
    counts = {d: sum(r.direction == d for r in group) for d in directions}
    summary = " vs ".join(f"{counts[d]} {d}" for d in sorted(counts, key=lambda d: -counts[d]))
    best = max(counts.values())
    winners = [d for d, c in counts.items() if c == best]
    if len(winners) > 1:
        return [], [(r, f"unresolved contradiction ({summary}): omitted") for r in group]
    winner = winners[0]
    kept = [r for r in group if r.direction == winner]
    removed = [(r, f"contradicted by more support for {winner} ({summary})") for r in group if r.direction != winner]
    return kept, removed


def _interleaved(sequence: list[str]) -> bool:
    """True when some direction appears between two occurrences of another one."""
    for i, d in enumerate(sequence):
        before = set(sequence[:i])
        after = set(sequence[i + 1 :])
        if any(o != d and o in before and o in after for o in before):
            return True
    return False


def _runs(claims: list[Residual], bridged: set[int]) -> list[list[Residual]]:
    runs: list[list[Residual]] = []
    for r in sorted(claims, key=lambda r: r.pair_idx):
        if runs:
            last = runs[-1][-1]
            gap = set(range(last.pair_idx + 1, r.pair_idx))
            if last.direction == r.direction and gap <= bridged:
                runs[-1].append(r)
                continue
        runs.append([r])
    return runs


def _discrete(segment_idx: int, claims: list[Residual]) -> list[Event]:
    events = []
    by_pair = {r.pair_idx: r for r in claims}
    for r in claims:
        nxt = by_pair.get(r.pair_idx + 1)
        prev = by_pair.get(r.pair_idx - 1)
        if (nxt and _reverses(r, nxt)) or (prev and _reverses(prev, r)):
            events.append(_event(segment_idx, [r], False, "discrete", "transient: reversed by the adjacent residual"))
        else:
            events.append(_event(segment_idx, [r], True, "discrete", "discrete event, context consistent"))
    return events


def _reverses(a: Residual, b: Residual) -> bool:
    """b undoes a: the same subject appears then disappears (or the reverse)."""
    if _subject(a) != _subject(b):
        return False
    appears = lambda r: r.zone_from == "none" and r.zone_to != "none"  # noqa: E731
    vanishes = lambda r: r.zone_to == "none" and r.zone_from != "none"  # noqa: E731
    return (appears(a) and vanishes(b)) or (vanishes(a) and appears(b))


def _attributes(segment_idx: int, residuals: list[Residual], entities: list[dict]) -> list[Event]:
    events: list[Event] = []
    locked: dict[str, dict[str, str]] = {}  # subject -> {category: value}
    for entity in entities:
        label = str(entity.get("label", "")).strip().lower()
        values = {_category(a): a.lower() for a in entity.get("attributes", []) if _category(a)}
        colour = next((w for w in label.split() if w in COLOURS), None)
        if colour:
            values.setdefault("colour", colour)
        if not label or not values:
            continue
        locked[label] = values
        for category, value in values.items():
            events.append(
                Event(
                    segment_idx,
                    0.0,
                    0.0,
                    f"{label} is {value}",
                    "attribute",
                    label,
                    "none",
                    str(entity.get("zone", "none")),
                    str(entity.get("zone", "none")),
                    1,
                    True,
                    "attribute_lock",
                    f"anchor attribute ({category}), locked",
                )
            )
    for r in residuals:
        subject = _subject(r)
        target = next((s for s in locked if s == subject or s in subject or subject in s), None)
        stated = {c: w for w in _words(r.delta_caption) if (c := _category(w))}
        if r.change_type == "attribute":
            reason = "attribute change reported by a residual"
            if target:
                changes = {c: v for c, v in stated.items() if locked[target].get(c) not in (None, v)}
                locked[target].update(changes)
                if changes:
                    reason += ": " + ", ".join(f"{c} now {v}" for c, v in changes.items())
            events.append(_event(segment_idx, [r], True, "attribute", reason))
        elif target and r.change_type != "none":
            conflicts = {
                c: v
                for c, v in stated.items()
                if c in locked[target] and locked[target][c] != v and not (c == "colour" and v in subject)
            }
            for category, value in conflicts.items():
                events.append(
                    _event(
                        segment_idx,
                        [r],
                        False,
                        "attribute_lock",
                        f"attribute locked: the anchor says {category} {locked[target][category]}, "
                        f"only an attribute change may make it {value}",
                    )
                )
    return events


def _category(word: str) -> str | None:
    w = word.strip().lower()
    if w in COLOURS:
        return "colour"
    for i, group in enumerate(STATES):
        if w in group:
            return f"state{i}"
    return None


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def _event(segment_idx: int, run: list[Residual], accepted: bool, rule: str, reason: str) -> Event:
    first, last = run[0], run[-1]
    return Event(
        segment_idx,
        first.t_prev_s,
        last.t_s,
        first.delta_caption,
        first.change_type,
        first.subject,
        first.direction,
        first.zone_from,
        last.zone_to,
        len(run),
        accepted,
        rule,
        reason,
        first.pair_idx,
    )
