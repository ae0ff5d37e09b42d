"""The report's caption-metrics section (`codecvdc report`): one table per protocol, sources side by side.

- ActivityNet: each metric's mean over the tIoU thresholds, then METEOR and recall per threshold (x 100,
  as the official script prints them), with the bootstrap 95 % CI over videos as a tooltip;
- SoccerNet-Caption: the metrics @W and spotting P / R / F1;
- LongCaption-Bench: S_l, S_q, S_r overall and per duration bucket, with their CIs.
"""

from __future__ import annotations

import html
import math

import pandas as pd

from codecvdc_assets.evaluation.comparison_table import SOURCE_ORDER

DENSE_METRICS = ["Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr", "Recall", "Precision", "F1"]
DENSE_SOURCES = ["codeccap:evidence", "codeccap:scene", "per_second"]
TITLES = {
    "activitynet": "Dense captioning, ActivityNet protocol (x 100; mean over tIoU, then per tIoU)",
    "soccernet": "Dense captioning, SoccerNet-Caption single-timestamp protocol (x 100, @W)",
    "longcaption": "LongCaption-Bench: S_l, S_q (0-100), S_r (1-5)",
}


def _e(value: object) -> str:
    return html.escape(str(value))


def _sources(frame: pd.DataFrame) -> list[str]:
    order = DENSE_SOURCES + SOURCE_ORDER
    present = set(frame["source"])
    return [s for s in order if s in present] + sorted(present - set(order))


def _cell(row: pd.Series | None, scale: float, digits: int) -> str:
    if row is None or row["value"] is None or (isinstance(row["value"], float) and math.isnan(row["value"])):
        return "<td></td>"
    tip = f"95% CI [{scale * row['ci_low']:.{digits}f}, {scale * row['ci_high']:.{digits}f}], n={int(row['n'])}"
    return f'<td title="{_e(tip)}">{scale * row["value"]:.{digits}f}</td>'


def _table(protocol: str, frame: pd.DataFrame, rows: list[tuple[str, dict]], scale: float, digits: int) -> str:
    sources = _sources(frame)
    head = "".join(f"<th>{_e(s)}</th>" for s in sources)
    out = [f'<table class="caption-metrics" id="metrics-{protocol}"><thead><tr><th class="l">metric</th>{head}']
    out.append("</tr></thead><tbody>")
    for label, where in rows:
        sel = frame
        for key, value in where.items():
            sel = sel[sel[key].isna()] if value is None else sel[sel[key] == value]
        if sel.empty:
            continue
        by_source = {r["source"]: r for _, r in sel.iterrows()}
        cells = "".join(_cell(by_source.get(s), scale, digits) for s in sources)
        out.append(f'<tr><td class="l">{_e(label)}</td>{cells}</tr>')
    out.append("</tbody></table>")
    return "".join(out)


def caption_metrics_section(metrics: pd.DataFrame | None) -> str:
    if metrics is None or metrics.empty:
        return ""
    parts = ["<h2>Caption metrics</h2>"]
    dense = metrics[metrics["protocol"] == "activitynet"]
    if len(dense):
        rows = [(m, {"metric": m, "threshold": None}) for m in DENSE_METRICS]
        for t in sorted(dense["threshold"].dropna().unique()):
            rows += [(f"{m} @ tIoU {t:g}", {"metric": m, "threshold": t}) for m in ("METEOR", "Recall")]
        parts += [f"<h3>{_e(TITLES['activitynet'])}</h3>", _table("activitynet", dense, rows, 100, 2)]
    single = metrics[metrics["protocol"] == "soccernet"]
    if len(single):
        window = single["threshold"].dropna().iloc[0] if single["threshold"].notna().any() else None
        rows = [(f"{m} @{window:g}" if window is not None else m, {"metric": m}) for m in DENSE_METRICS]
        parts += [f"<h3>{_e(TITLES['soccernet'])}</h3>", _table("soccernet", single, rows, 100, 2)]
    long = metrics[metrics["protocol"] == "longcaption"]
    if len(long):
        subsets = ["overall"] + sorted(set(long["subset"]) - {"overall"}, key=lambda s: float(s[1:].split("s")[0]))
        rows = [(f"{m} {s}", {"metric": m, "subset": s}) for s in subsets for m in ("S_l", "S_q", "S_r")]
        parts += [f"<h3>{_e(TITLES['longcaption'])}</h3>", _table("longcaption", long, rows, 1, 2)]
    parts.append("<p class='note'>Hover a figure for its bootstrap 95% CI over videos and n.</p>")
    return "".join(parts)
