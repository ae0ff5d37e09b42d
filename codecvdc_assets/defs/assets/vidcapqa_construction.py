"""VidCapQA construction over a question pool (dataset-level assets; evaluation/bank_construction.py).

| asset | inputs | output |
|---|---|---|
| vidcapqa_pool | profile `vidcapqa.pool` (+ `pool_layout`) | lake/vidcapqa_pool |
| vidcapqa_construction | pool + `vidcapqa.construction_answers` | lake/vidcapqa_built_bank, vidcapqa_decisions |

The model answers of each step (relabel, text_only, phase_a, phase_b) come as an imported table
`{step, model, question_id, answer}`: answers other people already paid for (a benchmark's published
predictions) or produced by any runner. A step with no answers is skipped and the decisions say so.
"""

import dagster as dg
import pandas as pd

from codecvdc_assets.captioning.prompts import load_prompt, prompt_hash
from codecvdc_assets.defs.assets.per_video import markdown_table
from codecvdc_assets.defs.resources import LakeResource, VidCapQAResource
from codecvdc_assets.evaluation.bank import load_bank
from codecvdc_assets.evaluation.bank_construction import STEPS, build
from codecvdc_assets.evaluation.importers import IMPORTERS
from codecvdc_assets.evaluation.live import ask
from codecvdc_assets.models.calls import write_model_calls
from codecvdc_assets.storage.lake import GLOBAL
from codecvdc_assets.versioning import code_version, file_digest


def build_construction_assets(qa: VidCapQAResource):
    pool_version = code_version("v1", pool=file_digest(qa.pool_path()), layout=qa.pool_layout)
    build_version = code_version(
        "v1",
        answers=file_digest(qa.answers_path()),
        target=qa.construction_target,
        seed=qa.construction_seed,
        models=qa.construction_models,
        prompts=[prompt_hash(p) for p in PROMPT_NAMES],
    )

    @dg.asset(
        code_version=pool_version,
        group_name="vidcapqa_construction",
        kinds={"python", "parquet"},
        description="The question pool to build a benchmark from (profile vidcapqa.pool).",
    )
    def vidcapqa_pool(context: dg.AssetExecutionContext, lake: LakeResource, vidcapqa: VidCapQAResource):
        path = vidcapqa.pool_path()
        if not path:
            raise dg.Failure(description="no question pool configured: set vidcapqa.pool in the profile")
        pool = load_bank(path) if vidcapqa.pool_layout == "bank" else IMPORTERS[vidcapqa.pool_layout](path)
        lake.lake().write("vidcapqa_pool", GLOBAL, pool)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": len(pool),
                "videos": int(pool["video_id"].nunique()),
                "without_dimension": int(pool["dimension"].isna().sum()),
                "dimensions": dg.MetadataValue.json(pool["dimension"].fillna("(none)").value_counts().to_dict()),
            }
        )

    @dg.asset(
        deps=["vidcapqa_pool", "frames"],  # frames: the live visual-filter steps look at the videos
        code_version=build_version,
        group_name="vidcapqa_construction",
        kinds={"python", "parquet"},
        description="Re-labeling, text-only filter, two-phase visual filter, difficulty and stratified "
        "sampling; every per-question decision kept.",
    )
    def vidcapqa_construction(context: dg.AssetExecutionContext, lake: LakeResource, vidcapqa: VidCapQAResource):
        pool = lake.lake().read("vidcapqa_pool", GLOBAL)
        imported = _imported_answers(vidcapqa.answers_path())
        answers = [imported]
        phase_a = imported[imported["step"] == "phase_a"]
        clients_used = []
        for step in STEPS:
            configs = vidcapqa.construction_models.get(step) or []
            if not configs or (imported["step"] == step).any():
                continue  # imported answers win; no models, no live answers
            clients = [(f"{c.get('model', 'model')}#{i}", _client(c, lake)) for i, c in enumerate(configs)]
            clients_used += [c for _, c in clients]
            prompts = {name: load_prompt(name) for name in PROMPT_NAMES}
            live = ask(step, pool, clients, prompts, lambda vid: _frames_for(lake, vid), phase_a)
            context.log.info(f"{step}: {len(live)} live answers from {len(clients)} model(s)")
            if step == "phase_a":
                phase_a = live
            answers.append(live)
        for client in clients_used:
            write_model_calls(lake.lake(), client.records, context.run_id)
        table = (
            pd.concat([a for a in answers if len(a)], ignore_index=True) if any(len(a) for a in answers) else imported
        )
        built = build(pool, table, target=vidcapqa.construction_target, seed=vidcapqa.construction_seed)
        lake.lake().write("vidcapqa_built_bank", GLOBAL, built.bank)
        lake.lake().write("vidcapqa_decisions", GLOBAL, built.decisions)
        steps = built.decisions.groupby(["step", "decision"]).size().reset_index(name="n").to_dict("records")
        mix = (
            built.bank.groupby(["dimension", "difficulty"])
            .size()
            .unstack(fill_value=0)
            .reset_index()
            .to_dict("records")
            if len(built.bank)
            else []
        )
        return dg.MaterializeResult(
            metadata={
                "pool": len(pool),
                "answers": len(table),
                "after_filters": len(built.pool),
                "sampled": len(built.bank),
                "decisions": dg.MetadataValue.md(markdown_table(steps, limit=40)),
                "sample_mix": dg.MetadataValue.md(markdown_table(mix, limit=20)),
            }
        )

    return [vidcapqa_pool, vidcapqa_construction]


PROMPT_NAMES = ("relabel", "qa_answer", "qa_visual", "verify")


def _imported_answers(path: str) -> pd.DataFrame:
    if not path:
        return pd.DataFrame(columns=["step", "model", "question_id", "answer"])
    answers = pd.read_json(path, lines=True, dtype={"answer": str, "question_id": str})
    missing = {"step", "model", "question_id", "answer"} - set(answers.columns)
    if missing:
        raise dg.Failure(description=f"{path}: missing column(s) {sorted(missing)}")
    return answers


def _client(config: dict, lake: LakeResource):
    from codecvdc_assets.defs.resources import ModelResource, model_config

    return ModelResource(**model_config(config)).client(lake.cache_dir())


def _frames_for(lake: LakeResource, pool_video_id: str, budget: int = 8) -> list[bytes] | None:
    """Uniformly sampled frames of the registered video made from the pool's video (matched by name)."""
    from codecvdc_assets.captioning.baselines import uniform_samples
    from codecvdc_assets.video.ids import made_from

    for reg in lake.registry().all():
        if made_from(reg.video_id, pool_video_id) and lake.lake().exists("frames", reg.video_id):
            picks = uniform_samples(lake.lake().read("frames", reg.video_id), budget)
            return [lake.frame_store().read(sha) for sha in picks["sha256"]]
    return None
