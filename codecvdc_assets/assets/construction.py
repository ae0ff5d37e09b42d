"""VidCapQA construction over a question pool (dataset-level assets; evaluation/construction.py).

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

from ..evaluation.bank import load_bank
from ..evaluation.construction import build
from ..evaluation.importers import IMPORTERS
from ..resources import LakeResource, VidCapQAResource
from ..storage.lake import GLOBAL
from ..versioning import code_version
from ._shell import markdown_table


def build_construction_assets(qa: VidCapQAResource):
    from .vidcapqa import _file_hash

    pool_version = code_version("v1", pool=_file_hash(qa.pool_path()), layout=qa.pool_layout)
    build_version = code_version(
        "v1", answers=_file_hash(qa.answers_path()), target=qa.construction_target, seed=qa.construction_seed
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
        deps=["vidcapqa_pool"],
        code_version=build_version,
        group_name="vidcapqa_construction",
        kinds={"python", "parquet"},
        description="Re-labeling, text-only filter, two-phase visual filter, difficulty and stratified "
        "sampling; every per-question decision kept.",
    )
    def vidcapqa_construction(context: dg.AssetExecutionContext, lake: LakeResource, vidcapqa: VidCapQAResource):
        path = vidcapqa.answers_path()
        if not path:
            raise dg.Failure(description="no model answers configured: set vidcapqa.construction_answers")
        answers = pd.read_json(path, lines=True)
        missing = {"step", "model", "question_id", "answer"} - set(answers.columns)
        if missing:
            raise dg.Failure(description=f"{path}: missing column(s) {sorted(missing)}")
        pool = lake.lake().read("vidcapqa_pool", GLOBAL)
        built = build(pool, answers, target=vidcapqa.construction_target, seed=vidcapqa.construction_seed)
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
                "after_filters": len(built.pool),
                "sampled": len(built.bank),
                "decisions": dg.MetadataValue.md(markdown_table(steps, limit=40)),
                "sample_mix": dg.MetadataValue.md(markdown_table(mix, limit=20)),
            }
        )

    return [vidcapqa_pool, vidcapqa_construction]
