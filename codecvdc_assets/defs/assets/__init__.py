"""Thin Dagster shells around the Dagster-free logic packages, one module per stage; imports those packages,
`defs.resources` and `runs`, never `definitions` or `cli`."""

from __future__ import annotations

from typing import Any

import dagster as dg

from codecvdc_assets.captioning.strategies import ALL as ALL_STRATEGIES
from codecvdc_assets.defs.assets.caption_metrics import build_caption_metrics_asset
from codecvdc_assets.defs.assets.captions import build_caption_assets
from codecvdc_assets.defs.assets.longcaption import build_longcaption_assets
from codecvdc_assets.defs.assets.segments import build_segments_assets
from codecvdc_assets.defs.assets.vidcapqa import build_vidcapqa_assets
from codecvdc_assets.defs.assets.vidcapqa_construction import build_construction_assets
from codecvdc_assets.defs.assets.videos import build_videos_asset
from codecvdc_assets.runs.batching import DEFAULT_BATCH


def build_assets(
    resources: dict[str, Any], batch_size: int = DEFAULT_BATCH, strategies: tuple[str, ...] = ALL_STRATEGIES
) -> list[dg.AssetsDefinition]:
    """The graph of a profile: ingest, CodecCap, the baselines its `strategies` name, VidCapQA, and the
    dataset-level assets its settings turn on."""
    seg = resources["segmentation"]
    vision, text = resources["vision_model"], resources["text_model"]
    return [
        build_videos_asset(seg, batch_size),
        build_segments_assets(seg, batch_size),
        *build_caption_assets(vision, text, resources["captioning"], batch_size),
        *(
            build_longcaption_assets(vision, text, resources["longcaption"], batch_size)
            if "longcaption" in strategies
            else []
        ),
        *build_vidcapqa_assets(vision, text, resources["vidcapqa"], batch_size, strategies),
        # Construction joins the graph when the profile names a question pool.
        *(build_construction_assets(resources["vidcapqa"]) if resources["vidcapqa"].pool else []),
        # Caption metrics join the graph when the profile names reference files.
        *(
            [build_caption_metrics_asset(resources["caption_metrics"], text, strategies)]
            if resources["caption_metrics"].enabled()
            else []
        ),
    ]
