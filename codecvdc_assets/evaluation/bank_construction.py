"""VidCapQA construction from a question pool (CodecCap section 4), every decision kept per question.

Inputs: the pool (a bank) and model answers `{step, model, question_id, answer}` with step one of
`relabel` (answer: a dimension or `unknown`), `text_only` (an option letter, or `unknown`), `phase_a`
(letter), `phase_b` (letter, `yes` or `no`: does the model confirm the keyed answer). They may come from
live calls or from a table others already paid for (e.g. a benchmark's published predictions).

Steps (a step with no answers at all is skipped and says so):
1. relabel: unknown-aware majority voting; a label needs >= 2 votes and more votes than `unknown`;
   questions that have no relabel votes keep their dimension; no dimension in the end -> dropped.
2. text_only: dropped if ANY text-only model answers right without seeing the video.
3. phase_a (VLMs with the frames): >= 2/3 right -> kept (easy if all right, medium if 2/3);
   0 right with a unanimous wrong answer -> dropped; otherwise -> phase_b.
4. phase_b (verification of the keyed answer): all confirm -> consensus hard (difficulty very hard);
   >= 2/3 -> likely correct (hard); otherwise dropped.
5. sampling: `target` questions balanced over dimensions (a dimension with fewer than its share gives
   all it has and the surplus goes to the others), within each dimension the 30/35/25/10 % mix of
   easy/medium/hard/very hard (shortfalls filled from the other difficulties), seeded.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from codecvdc_assets.evaluation.bank import DIFFICULTIES, DIMENSIONS, UNKNOWN

STEPS = ("relabel", "text_only", "phase_a", "phase_b")
DIFFICULTY_MIX = {"easy": 0.30, "medium": 0.35, "hard": 0.25, "very hard": 0.10}
CONFIRM = {"yes", "confirm", "confirmed", "true", "correct"}


@dataclass
class Built:
    bank: pd.DataFrame  # the sampled benchmark
    decisions: pd.DataFrame  # question_id, step, decision, reason
    pool: pd.DataFrame  # the pool after filtering, with dimension and difficulty, before sampling


def vote_label(votes: list[str]) -> tuple[str | None, str]:
    """Unknown-aware majority: (label or None, reason)."""
    norm = [v.strip().lower() for v in votes]
    unknown = sum(v == UNKNOWN for v in norm)
    counts = Counter(v for v in norm if v != UNKNOWN)
    if not counts:
        return None, f"no label: {unknown} unknown vote(s)"
    best = max(counts.values())
    leaders = sorted(k for k, c in counts.items() if c == best)
    tally = ", ".join(f"{k} {c}" for k, c in counts.most_common()) + (f", unknown {unknown}" if unknown else "")
    if len(leaders) > 1:
        return None, f"no label: tie ({tally})"
    if best < 2:
        return None, f"no label: fewer than 2 votes ({tally})"
    if best <= unknown:
        return None, f"no label: not more votes than unknown ({tally})"
    if leaders[0] not in DIMENSIONS:
        return None, f"no label: {leaders[0]!r} is not a dimension ({tally})"
    return leaders[0], f"label {leaders[0]} ({tally})"


def phase_a_verdict(given: list[str], key: str) -> tuple[str, str, str | None]:
    """(kept | dropped | phase_b, reason, difficulty) from the phase A answers of one question."""
    right = sum(a.upper() == key for a in given)
    n = len(given)
    wrong = [a.upper() for a in given if a.upper() != key]
    if right >= math.ceil(2 * n / 3):
        difficulty = "easy" if right == n else "medium"
        return "kept", f"{right}/{n} right: {difficulty}", difficulty
    if right == 0 and len(set(wrong)) == 1 and wrong[0] != UNKNOWN.upper():
        return "dropped", f"0/{n} right, all answered {wrong[0]}: key suspect", None
    return "phase_b", f"{right}/{n} right", None


def build(pool: pd.DataFrame, answers: pd.DataFrame, target: int = 1000, seed: int = 0) -> Built:
    answers = answers.assign(step=answers["step"].str.strip(), answer=answers["answer"].astype(str).str.strip())
    bad_steps = sorted(set(answers["step"]) - set(STEPS))
    if bad_steps:
        raise ValueError(f"unknown step(s) {bad_steps}; steps are {', '.join(STEPS)}")
    by_step = {
        step: group.groupby("question_id")["answer"].apply(list).to_dict() for step, group in answers.groupby("step")
    }
    decisions: list[dict] = []
    alive = pool.copy()
    alive["difficulty"] = None

    def decide(qid: str, step: str, decision: str, reason: str) -> None:
        decisions.append({"question_id": qid, "step": step, "decision": decision, "reason": reason})

    # 1. relabel
    votes = by_step.get("relabel", {})
    labels = {}
    for row in alive.itertuples():
        if row.question_id in votes:
            label, reason = vote_label(votes[row.question_id])
            decide(row.question_id, "relabel", "labeled" if label else "dropped", reason)
        else:
            label = row.dimension if isinstance(row.dimension, str) else None
            decide(
                row.question_id,
                "relabel",
                "kept" if label else "dropped",
                "no votes: kept the pool's dimension" if label else "no votes and no dimension",
            )
        labels[row.question_id] = label
    alive["dimension"] = alive["question_id"].map(labels)
    alive = alive[alive["dimension"].notna()]

    # 2. text-only answerability
    text_only = by_step.get("text_only")
    keep = []
    for row in alive.itertuples():
        if text_only is None:
            keep.append(True)
            continue
        given = text_only.get(row.question_id, [])
        right = sum(a.upper() == row.answer for a in given)
        if right:
            decide(
                row.question_id,
                "text_only",
                "dropped",
                f"answerable without the video ({right}/{len(given)})",
            )
        else:
            decide(row.question_id, "text_only", "kept", f"no text-only model right (0/{len(given)})")
        keep.append(not right)
    if text_only is None:
        decisions.append({"question_id": "*", "step": "text_only", "decision": "skipped", "reason": "no answers"})
    alive = alive[keep]

    # 3-4. visual filter
    phase_a, phase_b = by_step.get("phase_a"), by_step.get("phase_b")
    difficulty = {}
    if phase_a is None:
        decisions.append({"question_id": "*", "step": "phase_a", "decision": "skipped", "reason": "no answers"})
        for row in alive.itertuples():
            difficulty[row.question_id] = row.difficulty if isinstance(getattr(row, "difficulty", None), str) else None
    else:
        for row in alive.itertuples():
            given = phase_a.get(row.question_id, [])
            if not given:
                decide(row.question_id, "phase_a", "dropped", "no phase A answers")
                continue
            verdict, reason, level = phase_a_verdict(given, row.answer)
            if verdict == "kept":
                difficulty[row.question_id] = level
                decide(row.question_id, "phase_a", "kept", reason)
            elif verdict == "dropped":
                decide(row.question_id, "phase_a", "dropped", reason)
            else:
                decide(row.question_id, "phase_a", "to phase_b", reason)
                verdicts = (phase_b or {}).get(row.question_id, [])
                if not verdicts:
                    decide(row.question_id, "phase_b", "dropped", "no phase B answers")
                    continue
                confirm = sum(v.lower() in CONFIRM or v.upper() == row.answer for v in verdicts)
                m = len(verdicts)
                if confirm == m:
                    difficulty[row.question_id] = "very hard"
                    decide(row.question_id, "phase_b", "kept", f"consensus hard: {confirm}/{m} confirm")
                elif confirm >= math.ceil(2 * m / 3):
                    difficulty[row.question_id] = "hard"
                    decide(row.question_id, "phase_b", "kept", f"likely correct: {confirm}/{m} confirm")
                else:
                    decide(row.question_id, "phase_b", "dropped", f"not confirmed: {confirm}/{m}")
        alive = alive[alive["question_id"].isin(difficulty)]
    alive["difficulty"] = alive["question_id"].map(difficulty)
    alive["difficulty"] = alive["difficulty"].fillna("medium") if phase_a is None else alive["difficulty"]

    # 5. stratified sampling
    sampled = sample(alive, target, seed)
    chosen = set(sampled["question_id"])
    for qid in alive["question_id"]:
        decide(
            qid,
            "sampling",
            "selected" if qid in chosen else "not selected",
            "in the balanced sample" if qid in chosen else "over its dimension/difficulty quota",
        )
    return Built(sampled.reset_index(drop=True), pd.DataFrame(decisions), alive.reset_index(drop=True))


def allocate(available: dict[str, int], target: int) -> dict[str, int]:
    """Water-filling: equal shares; a group with fewer than its share gives all it has, the surplus is
    shared by the others. Sizes sum to min(target, total available)."""
    quota = {k: 0 for k in available}
    remaining = min(target, sum(available.values()))
    open_groups = [k for k, v in available.items() if v > 0]
    while remaining > 0 and open_groups:
        share, extra = divmod(remaining, len(open_groups))
        progressed = 0
        for i, key in enumerate(sorted(open_groups)):
            want = share + (1 if i < extra else 0)
            take = min(want, available[key] - quota[key])
            quota[key] += take
            progressed += take
        remaining -= progressed
        open_groups = [k for k in open_groups if quota[k] < available[k]]
        if progressed == 0:
            break
    return quota


def sample(pool: pd.DataFrame, target: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sizes = pool.groupby("dimension").size().to_dict()
    quotas = allocate(sizes, target)
    picked = []
    for dim in sorted(quotas):
        group = pool[pool["dimension"] == dim]
        n = quotas[dim]
        have = group.groupby("difficulty").size().to_dict()
        wanted = {d: round(n * DIFFICULTY_MIX[d]) for d in DIFFICULTIES}
        wanted[DIFFICULTIES[1]] += n - sum(wanted.values())  # rounding remainder to medium
        take = {d: min(wanted[d], have.get(d, 0)) for d in DIFFICULTIES}
        short = n - sum(take.values())
        for d in DIFFICULTIES:  # shortfalls filled from difficulties that have more
            extra = min(short, have.get(d, 0) - take[d])
            take[d] += extra
            short -= extra
        for d in DIFFICULTIES:
            members = group[group["difficulty"] == d].sort_values("question_id")
            if take[d]:
                idx = rng.choice(len(members), size=take[d], replace=False)
                picked.append(members.iloc[np.sort(idx)])
    if not picked:
        return pool.iloc[0:0]
    return pd.concat(picked).sort_values(["dimension", "difficulty", "question_id"])
