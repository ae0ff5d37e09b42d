"""VidCapQA: the baselines, caption-then-QA answers per video, and the scores over all videos.

| asset (-> lake table) | partitioned | inputs | model |
|---|---|---|---|
| vidcapqa_bank | no | the bank file (profile `vidcapqa.bank`) | none |
| direct_captions | per video | frames (uniform budget) | vision, prompts/direct.md |
| per_second_captions | per video | frames (each second) | vision, prompts/per_second.md |
| vidcapqa_answers | per video | bank, segments, each caption source (ours, LongCaption, outside) | text, qa_answer.md |
| vidcapqa_scores (+ vidcapqa_pairs) | no | bank, all answers, model calls, videos | none |
"""

import os

import dagster as dg
import pandas as pd

from codecvdc_assets.captioning import baselines
from codecvdc_assets.captioning.prompts import load_prompt, prompt_hash
from codecvdc_assets.captioning.strategies import ALL as ALL_STRATEGIES
from codecvdc_assets.defs.assets.captions import recorded, token_metadata
from codecvdc_assets.defs.assets.per_video import backfill_policy, result_metadata, run_videos
from codecvdc_assets.defs.assets.quality import record_quality
from codecvdc_assets.defs.partitions import videos_partitions
from codecvdc_assets.defs.resources import (
    LakeResource,
    QualityResource,
    TextModelResource,
    VidCapQAResource,
    VisionModelResource,
)
from codecvdc_assets.evaluation import answering, external
from codecvdc_assets.evaluation.bank import load_bank
from codecvdc_assets.evaluation.comparison_table import comparison_markdown, pairs_markdown
from codecvdc_assets.evaluation.paired import pairs_table
from codecvdc_assets.evaluation.scoring import score, scores_table
from codecvdc_assets.evaluation.sources import SOURCE_ASSETS, caption_sources, latest_run_calls, match_questions
from codecvdc_assets.runs.batching import DEFAULT_BATCH
from codecvdc_assets.storage.lake import GLOBAL
from codecvdc_assets.versioning import code_version, file_digest


def build_vidcapqa_assets(
    vision: VisionModelResource,
    text: TextModelResource,
    qa: VidCapQAResource,
    batch_size: int = DEFAULT_BATCH,
    strategies: tuple[str, ...] = ALL_STRATEGIES,
):
    """The bank, the baselines the profile's strategies name (captioning/strategies.py), answers and scores."""
    v_model, t_model = vision.settings().version_fields(), text.settings().version_fields()
    bank_file = qa.bank_path()
    bank_version = code_version("v1", bank=file_digest(bank_file))
    versions = {
        "direct_captions": code_version(  # v2: one frame per 5 s up to direct_frames, as many as fit the window
            "v2", prompt=prompt_hash("direct"), model=v_model, frames=qa.direct_frames, context=vision.context_tokens
        ),
        "per_second_captions": code_version("v1", prompt=prompt_hash("per_second"), model=v_model),
        "vidcapqa_answers": code_version(
            "v3",  # v2: answers read by evaluation/choices.py; outside captioners; v3: captions fitted to the window
            prompt=prompt_hash("qa_answer"),
            model=t_model,
            context=text.context_tokens,
            external=[(name, file_digest(path)) for name, path in qa.external_paths()],
            # the sources answered: only a profile that leaves strategies out changes the version
            **({"strategies": list(strategies)} if strategies != ALL_STRATEGIES else {}),
        ),
        "vidcapqa_scores": code_version("v3", seed=qa.seed, resamples=qa.resamples),  # v2: pairs; v3: n_fitted
    }
    per_video = {
        "partitions_def": videos_partitions,
        "group_name": "vidcapqa",
        "kinds": {"python", "parquet"},
        "backfill_policy": backfill_policy(batch_size),
    }

    @dg.asset(
        code_version=bank_version,
        group_name="vidcapqa",
        kinds={"python", "parquet"},
        description=f"The VidCapQA question bank ({os.path.basename(bank_file)}), validated.",
    )
    def vidcapqa_bank(context: dg.AssetExecutionContext, lake: LakeResource, vidcapqa: VidCapQAResource):
        bank = load_bank(vidcapqa.bank_path())
        lake.lake().write("vidcapqa_bank", GLOBAL, bank)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": len(bank),
                "videos": int(bank["video_id"].nunique()),
                "path": dg.MetadataValue.path(vidcapqa.bank_path()),
                "dimensions": dg.MetadataValue.json(bank["dimension"].fillna("(none)").value_counts().to_dict()),
            }
        )

    @dg.asset(
        deps=["frames"],
        code_version=versions["direct_captions"],
        description="Baseline: one holistic caption per video from uniformly sampled frames.",
        **per_video,
    )
    def direct_captions(
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        vision_model: VisionModelResource,
        vidcapqa: VidCapQAResource,
        quality: QualityResource,
    ):
        gates = quality.settings()
        client = vision_model.client(lake.cache_dir(), gates)

        def work(vid: str, _path: str) -> dict:
            table = baselines.caption_direct(
                vid,
                lake.lake().read("frames", vid),
                lake.frame_store().read,
                client,
                load_prompt("direct"),
                versions["direct_captions"],
                vidcapqa.direct_frames,
            )
            lake.lake().write("direct_captions", vid, table)
            flags = record_quality(lake.lake(), vid, "direct_captions", table, gates, client.outcomes)
            return {
                "direct_captions": {
                    "words": int(table.iloc[0]["n_words"]),
                    **token_metadata(client, vid),
                    **flags,
                    "preview": dg.MetadataValue.md(table.iloc[0]["caption"][:2000]),
                }
            }

        with recorded(context, lake, client):
            done = run_videos(context, lake, ["direct_captions"], work)
        return dg.MaterializeResult(metadata=result_metadata(context, done, "direct_captions"))

    @dg.asset(
        deps=["frames"],
        code_version=versions["per_second_captions"],
        description="Baseline: every one-second window captioned independently.",
        **per_video,
    )
    def per_second_captions(
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        vision_model: VisionModelResource,
        quality: QualityResource,
    ):
        gates = quality.settings()
        client = vision_model.client(lake.cache_dir(), gates)

        def work(vid: str, _path: str) -> dict:
            table = baselines.caption_per_second(
                vid,
                lake.lake().read("frames", vid),
                lake.frame_store().read,
                client,
                load_prompt("per_second"),
                versions["per_second_captions"],
            )
            lake.lake().write("per_second_captions", vid, table)
            flags = record_quality(lake.lake(), vid, "per_second_captions", table, gates, client.outcomes)
            return {
                "per_second_captions": {
                    "dagster/row_count": len(table),
                    "words": int(table["n_words"].sum()),
                    **token_metadata(client, vid),
                    **flags,
                }
            }

        with recorded(context, lake, client):
            done = run_videos(context, lake, ["per_second_captions"], work)
        return dg.MaterializeResult(metadata=result_metadata(context, done, "per_second_captions"))

    @dg.asset(
        deps=[
            "vidcapqa_bank",
            "segments",
            "anchors",
            "residuals",
            "scene_narratives",
            "video_narratives",
            *(["direct_captions"] if "direct" in strategies else []),
            *(["per_second_captions"] if "per_second" in strategies else []),
            *(["longcap_video"] if "longcaption" in strategies else []),
        ],
        code_version=versions["vidcapqa_answers"],
        description="Each question of the video answered from each caption source alone.",
        **per_video,
    )
    def vidcapqa_answers(
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        text_model: TextModelResource,
        vidcapqa: VidCapQAResource,
    ):
        client = text_model.client(lake.cache_dir())
        bank = lake.lake().read("vidcapqa_bank", GLOBAL)
        outside = [external.load_captions(path, name) for name, path in vidcapqa.external_paths()]

        def work(vid: str, _path: str) -> dict:
            store = lake.lake()
            questions = match_questions(bank, vid)
            sources = caption_sources(lambda t: store.read(t, vid) if store.exists(t, vid) else None)
            for captions in outside:
                sources.update(external.captions_for(captions, vid))
            table = answering.answer_questions(
                vid, questions, sources, client, load_prompt("qa_answer"), versions["vidcapqa_answers"]
            )
            store.write("vidcapqa_answers", vid, table)
            acc = table.groupby("source")["correct"].mean().round(3).to_dict() if len(table) else {}
            return {
                "vidcapqa_answers": {
                    "questions": len(questions),
                    "sources": len(sources),
                    "dagster/row_count": len(table),
                    "accuracy_by_source": dg.MetadataValue.json(acc),
                    **token_metadata(client, vid),
                }
            }

        with recorded(context, lake, client):
            done = run_videos(context, lake, ["vidcapqa_answers"], work)
        return dg.MaterializeResult(metadata=result_metadata(context, done, "vidcapqa_answers"))

    @dg.asset(
        deps=["vidcapqa_answers", "vidcapqa_bank", "videos"],  # videos: minutes for tokens/minute
        code_version=versions["vidcapqa_scores"],
        group_name="vidcapqa",
        kinds={"python", "parquet"},
        description="Accuracy per source, dimension and difficulty, bootstrap 95% CIs, no-evidence rate, "
        "tokens per video minute.",
    )
    def vidcapqa_scores(context: dg.AssetExecutionContext, lake: LakeResource, vidcapqa: VidCapQAResource):
        answers = lake.lake().read_all("vidcapqa_answers")
        bank = lake.lake().read("vidcapqa_bank", GLOBAL)
        table = compute_scores(lake, answers, bank, vidcapqa.seed, vidcapqa.resamples)
        lake.lake().write("vidcapqa_scores", GLOBAL, table)
        pairs = compute_pairs(answers, bank, vidcapqa.seed, vidcapqa.resamples)
        lake.lake().write("vidcapqa_pairs", GLOBAL, pairs)
        overall = table[table["group"] == "overall"].set_index("source")["accuracy"].round(3).to_dict()
        return dg.MaterializeResult(
            metadata={
                "answers": len(answers),
                "videos": int(answers["video_id"].nunique()) if len(answers) else 0,
                "overall_accuracy": dg.MetadataValue.json(overall),
                "comparison": dg.MetadataValue.md(comparison_markdown(table)),
                "paired": dg.MetadataValue.md(pairs_markdown(pairs)),
            }
        )

    named = [a for s, a in (("direct", direct_captions), ("per_second", per_second_captions)) if s in strategies]
    return [vidcapqa_bank, *named, vidcapqa_answers, vidcapqa_scores]


def compute_scores(
    lake: LakeResource, answers: pd.DataFrame, bank: pd.DataFrame, seed: int, resamples: int
) -> pd.DataFrame:
    from codecvdc_assets.evaluation.scoring import judge

    if answers.empty:
        from codecvdc_assets.schemas import empty_frame

        return empty_frame("vidcapqa_scores")
    fitted = ["caption_fitted"] if "caption_fitted" in answers else []  # answers of older versions lack it
    judged = judge(answers[["question_id", "source", "answer", *fitted]], bank)
    table = scores_table(score(judged, seed=seed, resamples=resamples))
    # Tokens each source spent per video minute, over the videos that were answered.
    calls = lake.lake().read_all("model_calls")
    videos = lake.lake().read_all("videos")
    answered = set(answers["video_id"])
    minutes = float(videos[videos["video_id"].isin(answered)]["duration_s"].sum()) / 60 if len(videos) else 0.0
    spent = {}
    if len(calls) and minutes:
        made = latest_run_calls(calls[calls["video_id"].isin(answered)])
        for source, assets in SOURCE_ASSETS.items():
            spent[source] = float(made[made["asset"].isin(assets)]["completion_tokens"].sum()) / minutes
    table["tokens_per_minute"] = table["source"].map(spent)
    return table


def compute_pairs(answers: pd.DataFrame, bank: pd.DataFrame, seed: int, resamples: int) -> pd.DataFrame:
    from codecvdc_assets.evaluation.scoring import judge
    from codecvdc_assets.schemas import empty_frame

    if answers.empty:
        return empty_frame("vidcapqa_pairs")
    pairs = pairs_table(judge(answers[["question_id", "source", "answer"]], bank), seed=seed, resamples=resamples)
    return pairs if len(pairs) else empty_frame("vidcapqa_pairs")
