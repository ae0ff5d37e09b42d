"""LongCaption-Agent as a captioning strategy, per video (captioning/longcaption_agent.py):

| asset | inputs | model | output |
|---|---|---|---|
| longcap_frames | frames (1 fps samples) | vision, prompts/longcap_frame.md | lake/longcap_frames |
| longcap_clips | videos (duration), frames | vision, prompts/longcap_clip.md | lake/longcap_clips |
| longcap_video, longcap_sections | longcap_frames, longcap_clips | text, longcap_video.md, longcap_section.md | lake |

A long video's merge goes through sections of consecutive clips so that every request fits the text model's
window (captioning/hierarchy.py, DESIGN section 16); the sections are stored as `longcap_sections`.

Versions hash the prompt, the model and sampling settings, the clip window and a logic version, like
the caption chain's; calls go through the same cache and accounting.
"""

import dagster as dg

from codecvdc_assets.captioning import longcaption_agent as lc
from codecvdc_assets.captioning.prompts import load_prompt, prompt_hash
from codecvdc_assets.defs.assets.captions import recorded, token_metadata
from codecvdc_assets.defs.assets.per_video import backfill_policy, markdown_table, result_metadata, run_videos
from codecvdc_assets.defs.assets.quality import record_quality
from codecvdc_assets.defs.partitions import videos_partitions
from codecvdc_assets.defs.resources import (
    LakeResource,
    LongCaptionResource,
    QualityResource,
    TextModelResource,
    VisionModelResource,
)
from codecvdc_assets.runs.batching import DEFAULT_BATCH
from codecvdc_assets.versioning import code_version

LOGIC = {"longcap_frames": "v1", "longcap_clips": "v1", "longcap_video": "v2"}  # v2: through sections


def build_longcaption_assets(
    vision: VisionModelResource, text: TextModelResource, long: LongCaptionResource, batch_size: int = DEFAULT_BATCH
):
    v_model, t_model = vision.settings().version_fields(), text.settings().version_fields()
    versions = {
        "longcap_frames": code_version(LOGIC["longcap_frames"], prompt=prompt_hash("longcap_frame"), model=v_model),
        "longcap_clips": code_version(
            LOGIC["longcap_clips"],
            prompt=prompt_hash("longcap_clip"),
            model=v_model,
            window=[long.window_s, long.stride_s],
        ),
        "longcap_video": code_version(
            LOGIC["longcap_video"],
            prompt=prompt_hash("longcap_video"),
            section=prompt_hash("longcap_section"),
            model=t_model,
            context=text.context_tokens,
            fan_in=long.max_fan_in,
        ),
    }
    common = {
        "partitions_def": videos_partitions,
        "group_name": "longcaption",
        "kinds": {"python", "parquet"},
        "backfill_policy": backfill_policy(batch_size),
    }

    @dg.asset(
        deps=["frames"],
        code_version=versions["longcap_frames"],
        description="LongCaption-Agent step 1: a caption of every sampled frame (static fine detail).",
        **common,
    )
    def longcap_frames(
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        vision_model: VisionModelResource,
        quality: QualityResource,
    ):
        gates = quality.settings()
        client = vision_model.client(lake.cache_dir(), gates)

        def work(vid: str, _path: str) -> dict:
            frames = lake.lake().read("frames", vid)
            table = lc.caption_frames(
                vid, frames, lake.frame_store().read, client, load_prompt("longcap_frame"), versions["longcap_frames"]
            )
            lake.lake().write("longcap_frames", vid, table)
            flags = record_quality(lake.lake(), vid, "longcap_frames", table, gates, client.outcomes)
            return {
                "longcap_frames": {
                    "dagster/row_count": len(table),
                    "words_per_frame": float(table["n_words"].mean()) if len(table) else 0.0,
                    **token_metadata(client, vid),
                    **flags,
                }
            }

        with recorded(context, lake, client):
            done = run_videos(context, lake, ["longcap_frames"], work)
        return dg.MaterializeResult(metadata=result_metadata(context, done, "longcap_frames"))

    @dg.asset(
        deps=["videos", "frames"],
        code_version=versions["longcap_clips"],
        description=f"LongCaption-Agent step 2: sliding clips ({long.window_s:g} s, stride {long.stride_s:g} s), "
        "each captioned from its frames with the previous clip's caption as context.",
        **common,
    )
    def longcap_clips(
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        vision_model: VisionModelResource,
        longcaption: LongCaptionResource,
        quality: QualityResource,
    ):
        gates = quality.settings()
        client = vision_model.client(lake.cache_dir(), gates)

        def work(vid: str, _path: str) -> dict:
            store = lake.lake()
            duration = float(store.read("videos", vid).iloc[0]["duration_s"])
            table = lc.caption_clips(
                vid,
                store.read("frames", vid),
                duration,
                lake.frame_store().read,
                client,
                load_prompt("longcap_clip"),
                versions["longcap_clips"],
                longcaption.window_s,
                longcaption.stride_s,
            )
            store.write("longcap_clips", vid, table)
            flags = record_quality(store, vid, "longcap_clips", table, gates, client.outcomes)
            preview = table[["clip_idx", "start_s", "end_s", "caption"]].head(6).to_dict("records")
            return {
                "longcap_clips": {
                    "dagster/row_count": len(table),
                    **token_metadata(client, vid),
                    **flags,
                    "preview": dg.MetadataValue.md(markdown_table(preview)),
                }
            }

        with recorded(context, lake, client):
            done = run_videos(context, lake, ["longcap_clips"], work)
        return dg.MaterializeResult(metadata=result_metadata(context, done, "longcap_clips"))

    video_spec = {"deps": ["longcap_frames", "longcap_clips"], "code_version": versions["longcap_video"],
                  "group_name": "longcaption", "kinds": {"python", "parquet"}}  # fmt: skip

    @dg.multi_asset(
        name="longcap_video_and_sections",
        specs=[
            dg.AssetSpec(
                "longcap_video",
                description="LongCaption-Agent step 3: the text model merges "
                "timestamped frame groups and clip captions (through sections for a long video).",
                **video_spec,
            ),
            dg.AssetSpec(
                "longcap_sections",
                description="The levels of the LongCaption-Agent merge of a long "
                "video: consecutive clips merged, then sections merged (none for a short video).",
                **video_spec,
            ),
        ],  # fmt: skip
        partitions_def=videos_partitions,
        backfill_policy=backfill_policy(batch_size),
        can_subset=False,
    )
    def longcap_video(
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        text_model: TextModelResource,
        quality: QualityResource,
        longcaption: LongCaptionResource,
    ):
        gates = quality.settings()
        client = text_model.client(lake.cache_dir(), gates)
        prompts = {"longcap_video": load_prompt("longcap_video"), "longcap_section": load_prompt("longcap_section")}

        def work(vid: str, _path: str) -> dict:
            store = lake.lake()
            table, sections, tree = lc.merge_video_levels(
                vid,
                store.read("longcap_frames", vid),
                store.read("longcap_clips", vid),
                client,
                prompts,
                versions["longcap_video"],
                longcaption.max_fan_in,
            )
            store.write("longcap_sections", vid, sections)
            store.write("longcap_video", vid, table)
            flags = record_quality(store, vid, "longcap_video", table, gates, client.outcomes)
            levels = {"levels": tree.levels, "model_requests": tree.n_calls, "split_after_cut": tree.n_splits}
            return {
                "longcap_video": {
                    "words": int(table.iloc[0]["n_words"]),
                    **levels,
                    **token_metadata(client, vid),
                    **flags,
                    "preview": dg.MetadataValue.md(table.iloc[0]["caption"][:3000]),
                },
                "longcap_sections": {"dagster/row_count": len(sections), **levels},
            }

        with recorded(context, lake, client):
            done = run_videos(context, lake, ["longcap_video", "longcap_sections"], work)
        yield dg.MaterializeResult(asset_key="longcap_video", metadata=result_metadata(context, done, "longcap_video"))
        yield dg.MaterializeResult(
            asset_key="longcap_sections", metadata=result_metadata(context, done, "longcap_sections")
        )

    return [longcap_frames, longcap_clips, longcap_video]
