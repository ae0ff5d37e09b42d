"""The CodecCap caption chain, per video: anchors -> residuals -> evidence -> scene -> video narratives.

| asset | inputs | model | output |
|---|---|---|---|
| anchors | frames (is_anchor) | vision, prompts/anchor.md | lake/anchors |
| residuals | frames (windows), anchors (`residual_context: anchor`) | vision, prompts/residual.md | lake/residuals |
| evidence | anchors, residuals | none: acceptance rules in code | lake/evidence |
| scene_narratives | segments, anchors, evidence | text, prompts/scene.md | lake/scene_narratives |
| video_narratives, chapter_narratives | scene_narratives | text, prompts/video.md, chapter.md | lake/(same) |

A long video's narrative goes through chapters (consecutive scenes merged, then chapters merged) so that
every request fits the text model's window (captioning/chapters.py, DESIGN section 16).

Versions hash the prompt file, the model and sampling settings, and a logic version: editing a prompt
makes that asset and everything downstream stale, nothing upstream.
"""

from contextlib import contextmanager

import dagster as dg

from codecvdc_assets.captioning import chain
from codecvdc_assets.captioning.chapters import narrate_video_levels
from codecvdc_assets.captioning.prompts import load_prompt, prompt_hash
from codecvdc_assets.defs.assets.per_video import backfill_policy, markdown_table, result_metadata, run_videos
from codecvdc_assets.defs.assets.quality import flagged_residuals, record_quality
from codecvdc_assets.defs.partitions import videos_partitions
from codecvdc_assets.defs.resources import (
    CaptioningResource,
    LakeResource,
    QualityResource,
    TextModelResource,
    VisionModelResource,
)
from codecvdc_assets.models.calls import CallJournal
from codecvdc_assets.models.client import ModelClient
from codecvdc_assets.runs.batching import DEFAULT_BATCH
from codecvdc_assets.versioning import code_version

LOGIC = {
    "anchors": "v1",
    "residuals": "v1",
    "evidence": "v1",
    "scene_narratives": "v1",
    "video_narratives": "v2",  # v2: through chapters when the scenes do not fit one request; length targets
}


@contextmanager
def recorded(context: dg.AssetExecutionContext, lake: LakeResource, client: ModelClient):
    """Write the client's call records to the lake whatever happens (a failed run keeps its calls); each
    record is journaled as it is made, so even a killed process loses none (models/calls.py)."""
    client.records = journal = CallJournal(lake.lake(), context.run_id)  # this asset's client: its calls only
    try:
        yield client
    finally:
        journal.commit()


def token_metadata(client: ModelClient, video_id: str) -> dict:
    records = [r for r in client.records if r.video_id == video_id]
    return {
        "model_calls": sum(not r.cache_hit for r in records),
        "cache_hits": sum(r.cache_hit for r in records),
        "prompt_tokens": sum(r.prompt_tokens for r in records),
        "completion_tokens": sum(r.completion_tokens for r in records),
    }


def build_caption_assets(
    vision: VisionModelResource,
    text: TextModelResource,
    cap: CaptioningResource,
    batch_size: int = DEFAULT_BATCH,
):
    v_model, t_model = vision.settings().version_fields(), text.settings().version_fields()
    versions = {
        "anchors": code_version(LOGIC["anchors"], prompt=prompt_hash("anchor"), model=v_model),
        "residuals": code_version(
            LOGIC["residuals"],
            prompt=prompt_hash("residual"),
            model=v_model,
            window=[cap.window_size, cap.window_overlap],
            context=cap.residual_context,
        ),
        "evidence": code_version(LOGIC["evidence"]),
        "scene_narratives": code_version(LOGIC["scene_narratives"], prompt=prompt_hash("scene"), model=t_model),
        "video_narratives": code_version(
            LOGIC["video_narratives"],
            prompt=prompt_hash("video"),
            chapter=prompt_hash("chapter"),
            model=t_model,
            context=text.context_tokens,
            fan_in=cap.max_fan_in,
        ),
    }
    common = {
        "partitions_def": videos_partitions,
        "group_name": "captions",
        "kinds": {"python", "parquet"},
        "backfill_policy": backfill_policy(batch_size),
    }

    @dg.asset(
        deps=["frames"],
        code_version=versions["anchors"],
        description="Keyframe anchor caption per segment.",
        **common,
    )
    def anchors(
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        vision_model: VisionModelResource,
        quality: QualityResource,
    ):
        gates = quality.settings()
        client = vision_model.client(lake.cache_dir(), gates)

        def work(vid: str, _path: str) -> dict:
            frames = lake.lake().read("frames", vid)
            table = chain.caption_anchors(
                vid, frames, lake.frame_store().read, client, load_prompt("anchor"), versions["anchors"]
            )
            lake.lake().write("anchors", vid, table)
            flags = record_quality(lake.lake(), vid, "anchors", table, gates, client.outcomes)
            first = table.iloc[0]["caption"] if len(table) else ""
            return {
                "anchors": {
                    "dagster/row_count": len(table),
                    "words_total": int(table["n_words"].sum()),
                    "words_per_anchor": float(table["n_words"].mean()) if len(table) else 0.0,
                    **token_metadata(client, vid),
                    **flags,
                    "preview": dg.MetadataValue.md(f"**Segment 0 anchor**\n\n{first[:1500]}"),
                }
            }

        with recorded(context, lake, client):
            done = run_videos(context, lake, ["anchors"], work)
        return dg.MaterializeResult(metadata=result_metadata(context, done, "anchors"))

    contextual = cap.residual_context == "anchor"

    @dg.asset(
        # With anchor context the anchors are an input: an anchor change (prompt, model) makes residuals stale.
        deps=["frames", "anchors"] if contextual else ["frames"],
        code_version=versions["residuals"],
        description="Delta-only captions per adjacent frame pair, in sliding windows"
        + (", given the segment's anchor caption and entities." if contextual else " (frames only, no anchor)."),
        **common,
    )
    def residuals(
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        vision_model: VisionModelResource,
        captioning: CaptioningResource,
        quality: QualityResource,
    ):
        gates = quality.settings()
        client = vision_model.client(lake.cache_dir(), gates)
        settings = chain.ChainSettings(captioning.window_size, captioning.window_overlap, captioning.residual_context)

        def work(vid: str, _path: str) -> dict:
            frames = lake.lake().read("frames", vid)
            anchors_t = lake.lake().read("anchors", vid) if contextual else None
            table = chain.caption_residuals(
                vid,
                frames,
                lake.frame_store().read,
                client,
                load_prompt("residual"),
                versions["residuals"],
                settings,
                anchors_t,
            )
            lake.lake().write("residuals", vid, table)
            flags = record_quality(lake.lake(), vid, "residuals", table, gates, client.outcomes)
            none_share = float((table["change_type"] == "none").mean()) if len(table) else 0.0
            preview = table.head(8)[["segment_idx", "t_s", "change_type", "delta_caption"]].to_dict("records")
            return {
                "residuals": {
                    "dagster/row_count": len(table),
                    "none_share": round(none_share, 4),
                    "words_per_residual": float(table["n_words"].mean()) if len(table) else 0.0,
                    "change_types": dg.MetadataValue.json(table["change_type"].value_counts().to_dict()),
                    **token_metadata(client, vid),
                    **flags,
                    "preview": dg.MetadataValue.md(markdown_table(preview)),
                }
            }

        with recorded(context, lake, client):
            done = run_videos(context, lake, ["residuals"], work)
        return dg.MaterializeResult(metadata=result_metadata(context, done, "residuals"))

    @dg.asset(
        deps=["anchors", "residuals"],
        code_version=versions["evidence"],
        description="Acceptance rules over residuals (in code): one row per candidate event.",
        **common,
    )
    def evidence(context: dg.AssetExecutionContext, lake: LakeResource):
        def work(vid: str, _path: str) -> dict:
            store = lake.lake()
            flagged = flagged_residuals(store, vid)  # never evidence (captioning/evidence.py rule 5)
            table = chain.build_evidence(vid, store.read("anchors", vid), store.read("residuals", vid), flagged)
            lake.lake().write("evidence", vid, table)
            by_rule = table.groupby(["rule", "accepted"]).size().reset_index(name="n").to_dict("records")
            return {
                "evidence": {
                    "dagster/row_count": len(table),
                    "accepted": int(table["accepted"].sum()),
                    "rejected": int((~table["accepted"]).sum()),
                    "flagged_residuals": len(flagged),
                    "by_rule": dg.MetadataValue.md(markdown_table(by_rule)),
                }
            }

        done = run_videos(context, lake, ["evidence"], work)
        return dg.MaterializeResult(metadata=result_metadata(context, done, "evidence"))

    @dg.asset(
        deps=["segments", "anchors", "residuals", "evidence"],
        code_version=versions["scene_narratives"],
        description="One paragraph per scene: anchor + accepted evidence.",
        **common,
    )
    def scene_narratives(
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        text_model: TextModelResource,
        quality: QualityResource,
    ):
        gates = quality.settings()
        client = text_model.client(lake.cache_dir(), gates)

        def work(vid: str, _path: str) -> dict:
            store = lake.lake()
            anchors_t, residuals_t = store.read("anchors", vid), store.read("residuals", vid)
            table = chain.narrate_scenes(
                vid,
                store.read("segments", vid),
                anchors_t,
                store.read("evidence", vid),
                client,
                load_prompt("scene"),
                versions["scene_narratives"],
            )
            store.write("scene_narratives", vid, table)
            flags = record_quality(store, vid, "scene_narratives", table, gates, client.outcomes)
            first_res = residuals_t[residuals_t["segment_idx"] == 0].head(5)
            lines = "\n".join(f"- {r.t_s:.1f} s [{r.change_type}] {r.delta_caption}" for r in first_res.itertuples())
            preview = (
                f"**Anchor (segment 0)**\n\n{anchors_t.iloc[0]['caption'][:800]}\n\n**First residuals**\n\n"
                f"{lines or '(none)'}\n\n**Scene narrative**\n\n{table.iloc[0]['narrative'][:1500]}"
            )
            return {
                "scene_narratives": {
                    "dagster/row_count": len(table),
                    "words_per_scene": float(table["n_words"].mean()),
                    **token_metadata(client, vid),
                    **flags,
                    "preview": dg.MetadataValue.md(preview),
                }
            }

        with recorded(context, lake, client):
            done = run_videos(context, lake, ["scene_narratives"], work)
        return dg.MaterializeResult(metadata=result_metadata(context, done, "scene_narratives"))

    video_spec = {"deps": ["scene_narratives"], "code_version": versions["video_narratives"], "group_name": "captions",
                  "kinds": {"python", "parquet"}}  # fmt: skip

    @dg.multi_asset(
        name="video_narratives_and_chapters",
        specs=[
            dg.AssetSpec(
                "video_narratives",
                description="The whole-video narrative from the scene narratives "
                "in order (through chapters when they do not fit one request).",
                **video_spec,
            ),
            dg.AssetSpec(
                "chapter_narratives",
                description="The levels between scene and video narratives of a "
                "long video: consecutive scenes merged, then chapters merged (none for a short video).",
                **video_spec,
            ),
        ],  # fmt: skip
        partitions_def=videos_partitions,
        backfill_policy=backfill_policy(batch_size),
        can_subset=False,
    )
    def video_narratives(
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        text_model: TextModelResource,
        quality: QualityResource,
        captioning: CaptioningResource,
    ):
        gates = quality.settings()
        client = text_model.client(lake.cache_dir(), gates)
        prompts = {"video": load_prompt("video"), "chapter": load_prompt("chapter")}

        def work(vid: str, _path: str) -> dict:
            table, chapters, tree = narrate_video_levels(
                vid,
                lake.lake().read("scene_narratives", vid),
                client,
                prompts,
                versions["video_narratives"],
                captioning.max_fan_in,
            )
            lake.lake().write("chapter_narratives", vid, chapters)
            lake.lake().write("video_narratives", vid, table)
            flags = record_quality(lake.lake(), vid, "video_narratives", table, gates, client.outcomes)
            levels = {"levels": tree.levels, "model_requests": tree.n_calls, "split_after_cut": tree.n_splits}
            return {
                "video_narratives": {
                    "dagster/row_count": 1,
                    "words": int(table.iloc[0]["n_words"]),
                    **levels,
                    **token_metadata(client, vid),
                    **flags,
                    "preview": dg.MetadataValue.md(table.iloc[0]["narrative"][:3000]),
                },
                "chapter_narratives": {
                    "dagster/row_count": len(chapters),
                    **levels,
                    "by_level": dg.MetadataValue.json(chapters.groupby("level").size().to_dict()),
                },
            }

        with recorded(context, lake, client):
            done = run_videos(context, lake, ["video_narratives", "chapter_narratives"], work)
        yield dg.MaterializeResult(
            asset_key="video_narratives", metadata=result_metadata(context, done, "video_narratives")
        )
        yield dg.MaterializeResult(
            asset_key="chapter_narratives", metadata=result_metadata(context, done, "chapter_narratives")
        )

    return [anchors, residuals, evidence, scene_narratives, video_narratives]
