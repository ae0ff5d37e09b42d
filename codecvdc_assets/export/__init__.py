"""Dataset export (DESIGN.md section 13): releases of the caption levels, without Dagster; imports captioning,
models, storage, schemas, video, settings (not evaluation).

- `options`: what to export (formats, levels, splits, filters) and its validation;
- `source`: which videos qualify and their rows, read through the catalog's DuckDB views;
- `splits`, `plan`: deterministic train/val/test by content hash, and hash-bucket shards;
- `spill`: one scan per table, rows spilled per shard, each shard read back alone;
- `outdir`: the output folder, its manifest, and files rewritten only when their bytes change;
- `hf`, `webdataset`, `swift` (with `samples`): one writer per format; `card` and `provenance`: the
  dataset card (README.md);
- `run`: `export()`, what the `codecvdc export` command and the `dataset_export` asset call.
"""

from codecvdc_assets.export.options import FORMATS, LEVELS, ExportError, ExportOptions
from codecvdc_assets.export.run import ExportResult, export

__all__ = ["FORMATS", "LEVELS", "ExportError", "ExportOptions", "ExportResult", "export"]
