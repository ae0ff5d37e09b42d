"""Caption-then-QA: a text-only model answers each question of a video from one caption source."""

from __future__ import annotations

import pandas as pd

from codecvdc_assets.evaluation.bank import UNKNOWN, option_map
from codecvdc_assets.evaluation.caption_fit import fit_caption
from codecvdc_assets.evaluation.choices import parse_choice
from codecvdc_assets.models import messages as m
from codecvdc_assets.models.client import ModelClient
from codecvdc_assets.models.task_schemas import SCHEMAS
from codecvdc_assets.models.types import ModelRequest
from codecvdc_assets.schemas import empty_frame

EMPTY = {"rationale": "The caption is empty.", "observation": "none", "answer": UNKNOWN}


def qa_request(video_id: str, caption: str, question: str, options: list[str], prompt: str) -> ModelRequest:
    data = {"caption": caption, "question": question, "options": option_map(list(options))}
    block = m.json_block(data)
    return ModelRequest(
        "qa_answer",
        [m.system(prompt), m.user("Answer from the caption only.", block)],
        SCHEMAS["qa_answer"],
        video_id=video_id,
        asset="vidcapqa_answers",
    )


def fit_sources(
    video_id: str, questions: pd.DataFrame, sources: dict[str, str], client: ModelClient, prompt: str
) -> dict[str, tuple[str, bool]]:
    """{source: (the caption its questions are asked with, whether it was fitted)}: each caption fitted
    against the video's longest question and options (evaluation/caption_fit.py has the rule)."""
    if not len(questions):
        return {source: (caption, False) for source, caption in sources.items()}
    longest = max(questions.itertuples(), key=lambda q: len(q.question) + sum(len(str(o)) for o in q.options))

    def fits(caption: str) -> bool:
        return client.fits(qa_request(video_id, caption, longest.question, longest.options, prompt))

    return {source: fit_caption(source, caption, sources, fits) for source, caption in sources.items()}


def answer_questions(
    video_id: str,
    questions: pd.DataFrame,
    sources: dict[str, str],
    client: ModelClient,
    prompt: str,
    version: str,
) -> pd.DataFrame:
    fitted = fit_sources(video_id, questions, sources, client, prompt)
    plan = [
        (source, fitted[source][0], q) for source, caption in sorted(sources.items()) for q in questions.itertuples()
    ]
    if not plan:
        return empty_frame("vidcapqa_answers")
    # An empty caption holds no evidence: `unknown` without a call.
    asked = [i for i, (_, caption, _) in enumerate(plan) if caption.strip()]
    got = client.complete_many(
        [qa_request(video_id, plan[i][1], plan[i][2].question, plan[i][2].options, prompt) for i in asked]
    )
    results: list = [None] * len(plan)
    for i, result in zip(asked, got, strict=True):
        results[i] = result
    rows = []
    for (source, caption, q), result in zip(plan, results, strict=True):
        data = result.data if result is not None else EMPTY
        answer = parse_choice(data["answer"], list(q.options))  # no option named: unknown
        strategy, _, level = source.partition(":")
        rows.append(
            {
                "question_id": q.question_id,
                "video_id": video_id,
                "strategy": strategy,
                "level": level,
                "source": source,
                "answer": answer,
                "correct": answer == q.answer,
                "no_evidence": answer == UNKNOWN,
                "dimension": q.dimension if isinstance(q.dimension, str) else None,
                "difficulty": q.difficulty if isinstance(q.difficulty, str) else None,
                "rationale": str(data.get("rationale", "")),
                "observation": str(data.get("observation", "")),
                "caption_words": len(caption.split()),
                "caption_fitted": fitted[source][1],
                "model": client.backend.model,
                "version": version,
            }
        )
    return pd.DataFrame(rows)
