"""Live model answers for the construction steps, in the same table shape as imported answers
`{step, model, question_id, answer}`:

- relabel: a text model reads the question and options and names a dimension (`prompts/relabel.md`);
- text_only: a text model answers without any caption (`prompts/qa_answer.md` with an empty caption);
- phase_a: a vision model answers from frames of the video (`prompts/qa_visual.md`);
- phase_b: for the questions phase A sends on, a vision model confirms or rejects the keyed answer
  (`prompts/verify.md`).
A question whose video has no frames in the lake gets no visual answer (and is dropped, saying so).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from codecvdc_assets.evaluation.bank import option_map
from codecvdc_assets.evaluation.bank_construction import phase_a_verdict
from codecvdc_assets.evaluation.choices import parse_choice
from codecvdc_assets.models import messages as m
from codecvdc_assets.models.client import ModelClient
from codecvdc_assets.models.task_schemas import SCHEMAS
from codecvdc_assets.models.types import ModelRequest

FramesFor = Callable[[str], list[bytes] | None]  # pool video id -> JPEGs (uniformly sampled) or None


def _request(task: str, prompt: str, data: dict, images: list[bytes] | None = None) -> ModelRequest:
    parts = [m.image_part(i) for i in images or []]
    return ModelRequest(
        task, [m.system(prompt), m.user(m.json_block(data), *parts)], SCHEMAS[task], asset="vidcapqa_construction"
    )


def ask(
    step: str,
    pool: pd.DataFrame,
    clients: list[tuple[str, ModelClient]],
    prompts: dict[str, str],
    frames_for: FramesFor,
    phase_a: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Answers of every configured model for one step (rows of the imported-answers table)."""
    questions = pool
    if step == "phase_b":
        if phase_a is None or phase_a.empty:
            return pd.DataFrame(columns=["step", "model", "question_id", "answer"])
        given = phase_a.groupby("question_id")["answer"].apply(list).to_dict()
        keys = dict(zip(pool["question_id"], pool["answer"], strict=True))
        wanted = {q for q, a in given.items() if q in keys and phase_a_verdict(a, keys[q])[0] == "phase_b"}
        questions = pool[pool["question_id"].isin(wanted)]
    plan = []
    for q in questions.itertuples():
        data = {"question": q.question, "options": option_map(list(q.options))}
        if step == "relabel":
            plan.append((q.question_id, _request("relabel", prompts["relabel"], data)))
        elif step == "text_only":
            plan.append((q.question_id, _request("qa_answer", prompts["qa_answer"], {**data, "caption": ""})))
        else:
            frames = frames_for(str(q.video_id))
            if not frames:
                continue
            if step == "phase_a":
                plan.append((q.question_id, _request("qa_visual", prompts["qa_visual"], data, frames)))
            else:
                plan.append(
                    (q.question_id, _request("verify", prompts["verify"], {**data, "keyed_answer": q.answer}, frames))
                )
    options = dict(zip(questions["question_id"], questions["options"], strict=True))
    rows = []
    for name, client in clients:
        results = client.complete_many([r for _, r in plan], raise_on_error=False)
        for (qid, _), result in zip(plan, results, strict=True):
            if not result.ok:
                continue  # recorded in model_calls; a missing answer is a missing vote
            value = {"relabel": "dimension", "verify": "verdict"}.get(result.request.task, "answer")
            given = str(result.data[value])
            if value == "answer":  # the answer as written ("(B)", option text) -> a letter or unknown
                given = parse_choice(given, list(options[qid]))
            rows.append({"step": step, "model": name, "question_id": qid, "answer": given})
    return pd.DataFrame(rows, columns=["step", "model", "question_id", "answer"])
