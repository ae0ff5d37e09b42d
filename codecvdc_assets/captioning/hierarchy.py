"""Hierarchical aggregation: an input that grows with duration is merged in levels that each fit a request.

Inputs are consecutive *parts* of a video (scene narratives; LongCaption clips with their frames). When all
of them fit one request (estimated prompt + max_tokens <= context_tokens, models/budget.py) and there are
no more than `max_fan_in`, one request makes the result. Otherwise consecutive parts are grouped (greedily,
in time order, as many as fit one request and at most `max_fan_in`), each group is merged into one
intermediate part (a *chapter*), and the same is done over the chapters, level by level, until one request
holds them all. A group of one part is carried up unchanged (no call: nothing to merge).

A merge answer cut at max_tokens (the client has already re-asked once for brevity) is not fatal: the group
is split in two halves and each half is merged on its own, so the level is rebuilt from smaller groups; a
cut final answer splits the top into two chapters and merges those. A video fails only where one atomic
part cannot fit a request on its own, or where halving stops making the input smaller.

Length targets grow with duration (`length_target`): LongCaption-10K averages ~1,200 words for 90 s and
LongCaption-Bench references ~1,160 words for 18 minutes, so a merge asks for 300 words plus 10 per second,
at most 1,200, and never more than half its answer's room (max_tokens) or a sixth of the prompt room (so at
least three merged parts fit the next request and every level makes progress). The target travels in the
request's JSON (`target_words`) and the prompt says how to use it.

Requests are built from the parts only, so the tree and every cache key are a function of the inputs and
the settings: a re-run asks nothing new. No Dagster here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from codecvdc_assets.models.budget import Budget, OverBudget, estimate_prompt_tokens
from codecvdc_assets.models.client import ModelClient
from codecvdc_assets.models.types import ModelCallError, ModelRequest, ModelResult

WORDS_PER_SECOND = 10
BASE_WORDS = 300
MAX_WORDS = 1200
DEFAULT_FAN_IN = 16
# Words of a merge's answer are at most prompt_limit / 6: at ~1.5 tokens a word (narratives with times
# and JSON) three answers and the instructions fit the next level's request, so every level makes progress.
PROMPT_SHARE = 6


def length_target(duration_s: float, budget: Budget) -> int:
    """Words a merge over `duration_s` seconds asks for (module doc: the rule and where it comes from)."""
    wanted = BASE_WORDS + WORDS_PER_SECOND * max(0.0, duration_s)
    return int(max(20, min(MAX_WORDS, wanted, budget.words_fit(), budget.prompt_limit // PROMPT_SHARE)))


@dataclass(frozen=True)
class Part:
    """One input of a merge: a time span, the atomic units it covers (segments or clips, inclusive) and
    the JSON item a request carries for it."""

    start_s: float
    end_s: float
    first: int
    last: int
    item: dict[str, Any]
    level: int = 0
    text: str = ""


@dataclass(frozen=True)
class Chapter:
    """An intermediate result: level >= 1, its index in the level, and how it was made."""

    level: int
    idx: int
    part: Part
    n_inputs: int
    target_words: int
    called: bool  # False: a single part carried up unchanged


@dataclass
class Tree:
    text: str
    chapters: list[Chapter] = field(default_factory=list)
    depth: int = 1  # requests on the longest path from a part to the result (1: one request, no chapter)
    n_calls: int = 0
    n_splits: int = 0  # groups (or tops) rebuilt from halves after a cut answer

    @property
    def levels(self) -> int:
        """Stored intermediate levels (0: the result came from the parts directly)."""
        return max((c.level for c in self.chapters), default=0)


# build(parts, level, final, target_words) -> the request merging `parts` (level: the parts' level + 1)
Builder = Callable[[list[Part], int, bool, int], ModelRequest]
# wrap(text, parts, level) -> the chapter's JSON item for the next level's requests
Wrapper = Callable[[str, list[Part], int], dict[str, Any]]


class AggregationError(ModelCallError):
    """A merge that cannot be made: one part too large on its own, or halving no longer helps."""


@dataclass
class Aggregator:
    client: ModelClient
    build: Builder
    wrap: Wrapper
    answer_key: str  # the answer's field holding the merged text (narrative, caption)
    max_fan_in: int = DEFAULT_FAN_IN
    what: str = "merge"  # names the result in messages (video narrative, longcap video)

    def __post_init__(self) -> None:
        if self.max_fan_in < 2:
            raise ValueError(f"{self.what}: max_fan_in must be at least 2, not {self.max_fan_in}")

    # ------------------------------------------------------------------ planning
    def fits(self, parts: list[Part], level: int, final: bool) -> bool:
        return self.client.budget.fits(estimate_prompt_tokens(self._request(parts, level, final).messages))

    def _request(self, parts: list[Part], level: int, final: bool) -> ModelRequest:
        return self.build(parts, level, final, self.target(parts))

    def target(self, parts: list[Part]) -> int:
        return length_target(parts[-1].end_s - parts[0].start_s, self.client.budget)

    def group(self, parts: list[Part], level: int) -> list[list[Part]]:
        """Consecutive groups, each as many parts as fit one request (at most max_fan_in)."""
        groups: list[list[Part]] = []
        current: list[Part] = []
        for part in parts:
            if current and (len(current) >= self.max_fan_in or not self.fits([*current, part], level, False)):
                groups.append(current)
                current = []
            current.append(part)
        if current:
            groups.append(current)
        return groups

    def check_atomic(self, parts: list[Part]) -> None:
        """Every part must fit a request on its own: the one failure no splitting can fix."""
        budget = self.client.budget
        for part in parts:
            request = self._request([part], part.level + 1, True)
            tokens = estimate_prompt_tokens(request.messages)
            if not budget.fits(tokens):
                where = "/".join(p for p in (request.video_id, request.asset) if p)
                raise AggregationError(
                    f"{where}: {self.what}: one input ({_span(part)}) needs ~{tokens} prompt tokens alone; "
                    f"with max_tokens {budget.max_tokens} it cannot fit context_tokens {budget.context_tokens} "
                    f"(prompt limit {budget.prompt_limit})"
                )

    # ------------------------------------------------------------------ running
    def run(self, parts: list[Part]) -> Tree:
        if not parts:
            raise ValueError(f"{self.what}: nothing to merge")
        self.check_atomic(parts)
        tree = Tree("")
        current, level = list(parts), 1
        while True:
            if len(current) <= self.max_fan_in and self.fits(current, level, True):
                result = self._ask([self._request(current, level, True)], tree)[0]
                if result.ok:
                    tree.text = str(result.data[self.answer_key]).strip()
                    tree.depth = level
                    return tree
                if not _cut(result) or len(current) < 2:
                    raise self._failed(result)
                tree.n_splits += 1
                groups = _halves(current)
            else:
                groups = self.group(current, level)
            merged = self._level(groups, level, tree)
            if len(merged) >= len(current):
                raise AggregationError(
                    f"{_where(self._request(current, level, True))}: {self.what}: level {level} could not make "
                    f"its {len(current)} inputs fewer (each part needs a request of its own at "
                    f"context_tokens {self.client.budget.context_tokens}, max_tokens {self.client.budget.max_tokens})"
                )
            current, level = merged, level + 1

    def _level(self, groups: list[list[Part]], level: int, tree: Tree) -> list[Part]:
        """Merge each group into one part of `level`; a cut answer splits its group into halves (repeatedly)."""
        done: dict[int, list[tuple[list[Part], str | None]]] = {}
        pending = list(enumerate(groups))
        while pending:
            asked = [(i, g) for i, g in pending if len(g) > 1]
            for i, g in pending:
                if len(g) == 1:
                    done.setdefault(i, []).append((g, None))
            results = self._ask([self._request(g, level, False) for _, g in asked], tree)
            pending = []
            for (i, g), result in zip(asked, results, strict=True):
                if result.ok:
                    done.setdefault(i, []).append((g, str(result.data[self.answer_key]).strip()))
                elif _cut(result):
                    tree.n_splits += 1
                    pending.extend((i, half) for half in _halves(g))
                else:
                    raise self._failed(result)
        out: list[Part] = []
        for i in sorted(done):
            for g, text in sorted(done[i], key=lambda x: x[0][0].start_s):
                called = text is not None
                text = text if called else g[0].text
                part = Part(g[0].start_s, g[-1].end_s, g[0].first, g[-1].last, self.wrap(text, g, level), level, text)
                tree.chapters.append(Chapter(level, len(out), part, _inputs(g), self.target(g), called))
                out.append(part)
        return out

    def _ask(self, requests: list[ModelRequest], tree: Tree) -> list[ModelResult]:
        if not requests:
            return []
        tree.n_calls += len(requests)
        return self.client.complete_many(requests, raise_on_error=False)

    def _failed(self, result: ModelResult) -> ModelCallError:
        where = _where(result.request)
        if result.status == "refused":
            return AggregationError(result.error or f"{where}: {self.what}: refused", [result])
        return ModelCallError(f"{where + ': ' if where else ''}{self.what}: {result.error}", [result])


def _cut(result: ModelResult) -> bool:
    return result.status == "truncated"


def _halves(parts: list[Part]) -> list[list[Part]]:
    mid = math.ceil(len(parts) / 2)
    return [parts[:mid], parts[mid:]] if len(parts) > 1 else [parts]


def _inputs(group: list[Part]) -> int:
    return len(group)


def _span(part: Part) -> str:
    return f"{part.start_s:.1f}-{part.end_s:.1f} s, units {part.first}-{part.last}"


def _where(request: ModelRequest) -> str:
    return "/".join(p for p in (request.video_id, request.asset) if p)


__all__ = ["Aggregator", "AggregationError", "Chapter", "OverBudget", "Part", "Tree", "length_target"]
