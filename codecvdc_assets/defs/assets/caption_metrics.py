"""Caption metrics over every caption source (evaluation/lake_metrics.py): a dataset-level asset that
joins the graph when the profile's `caption_metrics` section names reference files.

| asset (-> lake table) | partitioned | inputs | model |
|---|---|---|---|
| caption_metrics | no | the caption tables, the references | text: prompts/lc_quality.md, lc_relevance.md |
"""

import dagster as dg

from codecvdc_assets.captioning.prompts import load_prompt, prompt_hash
from codecvdc_assets.captioning.strategies import ALL as ALL_STRATEGIES
from codecvdc_assets.defs.assets.per_video import markdown_table, refresh_catalog
from codecvdc_assets.defs.resources import CaptionMetricsResource, LakeResource, TextModelResource
from codecvdc_assets.evaluation.lake_metrics import compute_caption_metrics
from codecvdc_assets.models.calls import write_model_calls
from codecvdc_assets.storage.lake import GLOBAL
from codecvdc_assets.versioning import code_version, file_digest

PROMPTS = ("lc_quality", "lc_relevance")


def build_caption_metrics_asset(
    metrics: CaptionMetricsResource, text: TextModelResource, strategies: tuple[str, ...] = ALL_STRATEGIES
):
    settings = metrics.settings()
    version = code_version(
        "v1",
        references=[file_digest(p) for p in (settings.dense_references, settings.soccernet_references) if p],
        long_references=file_digest(settings.long_references) if settings.long_references else "",
        settings=metrics.model_dump(),
        prompts=[prompt_hash(p) for p in PROMPTS],
        model=text.settings().version_fields(),
    )

    @dg.asset(
        deps=[
            "evidence",
            "scene_narratives",
            "video_narratives",
            *(["direct_captions"] if "direct" in strategies else []),
            *(["per_second_captions"] if "per_second" in strategies else []),
        ],
        code_version=version,
        group_name="caption_metrics",
        kinds={"python", "parquet"},
        description="Dense-captioning metrics (ActivityNet / SoccerNet-Caption protocols) and LongCaption-Bench "
        "scores of every caption source against the profile's references.",
    )
    def caption_metrics(
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        caption_metrics: CaptionMetricsResource,
        text_model: TextModelResource,
    ):
        store = lake.lake()
        client = text_model.client(lake.cache_dir()) if caption_metrics.long_references else None
        prompts = {p: load_prompt(p) for p in PROMPTS}
        try:
            table, summary = compute_caption_metrics(store, caption_metrics.settings(), client, prompts)
        finally:
            if client is not None:
                write_model_calls(store, client.take_records(), context.run_id)
        store.write("caption_metrics", GLOBAL, table)
        refresh_catalog(context, lake)
        headline = table[table["threshold"].isna() & (table["subset"] == "overall")]
        rows = [
            {"source": r.source, "protocol": r.protocol, "metric": r.metric, "value": round(r.value, 4), "n": r.n}
            for r in headline.itertuples()
        ]
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": len(table),
                "summary": dg.MetadataValue.json(summary),
                "headline": dg.MetadataValue.md(markdown_table(rows, limit=60)),
            }
        )

    return caption_metrics
