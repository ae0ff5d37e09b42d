"""`dataset_export`: the profile's `export:` section as a dataset-level asset (DESIGN.md section 13).

| asset | inputs | model | output |
|---|---|---|---|
| dataset_export | the caption chain of every video | none | a release folder (hf, webdataset, swift) |

It joins the graph when the profile has an `export:` section naming `out` (relative paths: under
$CODECVDC_HOME). It depends on every caption asset, so a re-materialized video makes it stale; its code
version hashes the export options. The work is `codecvdc_assets.export.export`, as for `codecvdc export`.
"""

import os
from typing import Any

import dagster as dg

from codecvdc_assets.captioning.prompts import load_prompt
from codecvdc_assets.defs.resources import CaptioningResource, LakeResource, QualityResource
from codecvdc_assets.export import ExportOptions, export
from codecvdc_assets.export.provenance import provenance
from codecvdc_assets.storage.catalog import connect
from codecvdc_assets.versioning import code_version

UPSTREAM = ["videos", "segments", "frames", "anchors", "residuals", "evidence", "scene_narratives", "video_narratives"]


def build_export_assets(section: dict[str, Any] | None, code_versions: dict[str, str]) -> list[dg.AssetsDefinition]:
    if not section or not section.get("out"):
        return []
    options = ExportOptions.from_mapping(section, "profile export")
    out_setting = str(section["out"])

    @dg.asset(
        deps=UPSTREAM,
        code_version=code_version("v1", out=out_setting, **options.describe()),
        group_name="export",
        kinds={"python", "parquet"},
        description=f"A release of the captions ({', '.join(options.formats)}) in {out_setting}.",
    )
    def dataset_export(
        context: dg.AssetExecutionContext, lake: LakeResource, captioning: CaptioningResource, quality: QualityResource
    ):
        out = out_setting if os.path.isabs(out_setting) else os.path.join(lake.home, out_setting)
        store = lake.frame_store()
        con = connect(lake.home, lake=lake.lake())
        try:
            result = export(
                con,
                out,
                options,
                provenance(code_versions),
                store.path,
                store.read,
                load_prompt("residual"),
                (captioning.window_size, captioning.window_overlap),
                quality=quality.settings(),
            )
        finally:
            con.close()
        context.log.info(f"export -> {result.out}: {result.videos} videos, {len(result.changed)} files written")
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(result.out)),
                "videos": result.videos,
                "splits": dg.MetadataValue.json(result.splits),
                "excluded": dg.MetadataValue.json(result.excluded),
                "flagged_rows": dg.MetadataValue.json(result.flagged),
                "rows": dg.MetadataValue.json(result.rows),
                "files": result.files,
                "files_rewritten": len(result.changed),
                "files_removed": len(result.removed),
            }
        )

    return [dataset_export]
