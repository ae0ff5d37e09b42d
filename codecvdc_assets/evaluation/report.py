"""The self-contained HTML report (`codecvdc report`): no scripts, no external files.

Sections: the Table-2-shaped comparison, a per-dimension bar chart with 95 % confidence intervals
(inline SVG), caption tokens per video minute per source, and a timeline of one video's anchors and
residuals.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime

import pandas as pd

from codecvdc_assets.evaluation.comparison_table import comparison_rows
from codecvdc_assets.evaluation.metrics_report import caption_metrics_section

PALETTE = ["#1f77b4", "#2ca02c", "#17becf", "#9467bd", "#d62728", "#ff7f0e", "#8c564b", "#7f7f7f"]
CHANGE_COLOURS = {
    "continuous": "#1f77b4",
    "discrete": "#d62728",
    "attribute": "#9467bd",
    "camera": "#ff7f0e",
    "none": "#c7c7c7",
}
CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}tr.group td{background:#fafafa;font-weight:600;text-align:left}
.legend span{display:inline-block;margin-right:1em}.legend i{display:inline-block;width:12px;height:12px;
margin-right:4px;vertical-align:middle}.note{color:#666;font-size:.85em}
"""


def _e(value: object) -> str:
    return html.escape(str(value))


def comparison_table(scores: pd.DataFrame) -> str:
    sources, rows = comparison_rows(scores)
    delta = "codeccap:all" in sources and "direct:caption" in sources
    head = "".join(f"<th>{_e(s)}</th>" for s in sources) + ("<th>&Delta; CodecCap &minus; direct</th>" if delta else "")
    out = [f'<table id="comparison"><thead><tr><th class="l">dimension</th>{head}</tr></thead><tbody>']
    current = None
    for group, name, values in rows:
        if group != current and group:
            out.append(f'<tr class="group"><td colspan="{len(sources) + 1 + delta}">{_e(group)}</td></tr>')
            current = group
        cells = "".join(f"<td>{'' if values.get(s) is None else f'{100 * values[s]:.1f}'}</td>" for s in sources)
        if delta:
            a, b = values.get("codeccap:all"), values.get("direct:caption")
            cells += f"<td>{'' if a is None or b is None else f'{100 * (a - b):+.1f}'}</td>"
        label = f"<b>{_e(name)}</b>" if name == "Overall" else _e(name)
        out.append(f'<tr class="row"><td class="l">{label}</td>{cells}</tr>')
    out.append("</tbody></table>")
    return "".join(out)


def bar_chart(scores: pd.DataFrame) -> str:
    """Grouped bars: accuracy per dimension and source, with CI whiskers."""
    sources, rows = comparison_rows(scores)
    data = scores[scores["group"].isin(["dimension", "overall"])].set_index(["dimension", "source"])
    groups = [name if name != "Overall" else "overall" for _, name, _ in rows]
    bar_w, gap, left, top, height = 12, 18, 50, 20, 240
    width = left + len(groups) * (len(sources) * bar_w + gap) + 20
    svg = [f'<svg id="accuracy-chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 140}">']
    for tick in range(0, 101, 25):
        y = top + height * (1 - tick / 100)
        svg.append(
            f'<line x1="{left}" x2="{width - 10}" y1="{y}" y2="{y}" stroke="#eee"/>'
            f'<text x="{left - 6}" y="{y + 4}" font-size="10" text-anchor="end">{tick}%</text>'
        )
    for gi, group in enumerate(groups):
        x0 = left + gi * (len(sources) * bar_w + gap) + gap / 2
        for si, source in enumerate(sources):
            if (group, source) not in data.index:
                continue
            row = data.loc[(group, source)]
            acc, lo, hi = float(row["accuracy"]), float(row["ci_low"]), float(row["ci_high"])
            x = x0 + si * bar_w
            y = top + height * (1 - acc)
            tip = f"{source} / {group}: {100 * acc:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}] n={int(row['n'])}"
            svg.append(
                f'<rect class="bar" x="{x}" y="{y}" width="{bar_w - 2}" height="{top + height - y}" '
                f'fill="{PALETTE[si % len(PALETTE)]}"><title>{_e(tip)}</title></rect>'
            )
            cx = x + (bar_w - 2) / 2
            y_lo, y_hi = top + height * (1 - lo), top + height * (1 - hi)
            svg.append(
                f'<line class="ci" x1="{cx}" x2="{cx}" y1="{y_lo}" y2="{y_hi}" stroke="#333"/>'
                f'<line x1="{cx - 3}" x2="{cx + 3}" y1="{y_hi}" y2="{y_hi}" stroke="#333"/>'
                f'<line x1="{cx - 3}" x2="{cx + 3}" y1="{y_lo}" y2="{y_lo}" stroke="#333"/>'
            )
        label_x = x0 + len(sources) * bar_w / 2
        svg.append(
            f'<text x="{label_x}" y="{top + height + 12}" font-size="10" text-anchor="end" '
            f'transform="rotate(-35 {label_x} {top + height + 12})">{_e(group)}</text>'
        )
    svg.append("</svg>")
    legend = "".join(
        f'<span><i style="background:{PALETTE[i % len(PALETTE)]}"></i>{_e(s)}</span>' for i, s in enumerate(sources)
    )
    return "".join(svg) + f'<div class="legend">{legend}</div>'


def tokens_table(scores: pd.DataFrame) -> str:
    overall = scores[scores["group"] == "overall"].sort_values("source")
    rows = []
    for r in overall.itertuples():
        tokens = "" if pd.isna(r.tokens_per_minute) else f"{r.tokens_per_minute:,.0f}"
        rows.append(
            f'<tr><td class="l">{_e(r.source)}</td><td>{int(r.n)}</td><td>{100 * r.accuracy:.1f}</td>'
            f"<td>{100 * r.no_evidence_rate:.1f}</td><td>{tokens}</td></tr>"
        )
    return (
        '<table id="tokens"><thead><tr><th class="l">source</th><th>questions</th><th>accuracy %</th>'
        "<th>no-evidence %</th><th>caption tokens / video minute</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def timeline(video_id: str, segments: pd.DataFrame, anchors: pd.DataFrame, residuals: pd.DataFrame) -> str:
    """Segments as bands, anchors as diamonds, residuals as ticks coloured by change type."""
    end = float(segments["end_s"].max()) if len(segments) else 1.0
    width, left, lane = 1000, 20, 60
    scale = (width - 2 * left) / max(end, 1e-6)
    svg = [f'<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{lane * 2 + 40}">']
    for i, seg in enumerate(segments.sort_values("segment_idx").itertuples()):
        x, w = left + seg.start_s * scale, (seg.end_s - seg.start_s) * scale
        svg.append(
            f'<rect class="segment" x="{x}" y="10" width="{w}" height="{lane * 2}" '
            f'fill="{"#f4f4f4" if i % 2 else "#e9eef5"}" stroke="#bbb"><title>segment {seg.segment_idx}: '
            f"{seg.start_s:.2f}-{seg.end_s:.2f} s ({_e(seg.boundary_source)})</title></rect>"
        )
    for a in anchors.itertuples():
        x = left + a.t_s * scale
        svg.append(
            f'<polygon class="anchor" points="{x},{20} {x + 6},{28} {x},{36} {x - 6},{28}" fill="#333">'
            f"<title>{_e(a.caption[:400])}</title></polygon>"
        )
    for r in residuals.itertuples():
        x = left + r.t_s * scale
        colour = CHANGE_COLOURS.get(r.change_type, "#999")
        svg.append(
            f'<line class="residual" x1="{x}" x2="{x}" y1="{lane}" y2="{lane * 2}" stroke="{colour}" '
            f'stroke-width="3"><title>{r.t_s:.1f} s [{_e(r.change_type)}] {_e(r.delta_caption)}</title></line>'
        )
    for t in range(0, int(end) + 1, max(1, int(end) // 10 or 1)):
        svg.append(f'<text x="{left + t * scale}" y="{lane * 2 + 28}" font-size="10" text-anchor="middle">{t}s</text>')
    svg.append("</svg>")
    legend = "".join(f'<span><i style="background:{c}"></i>{k}</span>' for k, c in CHANGE_COLOURS.items())
    return f"<h3>{_e(video_id)}</h3>" + "".join(svg) + f'<div class="legend"><span>&#9670; anchor</span>{legend}</div>'


def render(
    scores: pd.DataFrame,
    video: tuple[str, pd.DataFrame, pd.DataFrame, pd.DataFrame] | None,
    home: str,
    metrics: pd.DataFrame | None = None,
    sections: list[tuple[str, str]] = (),  # type: ignore[assignment]
) -> str:
    """`metrics`: caption_metrics rows; `sections`: (heading, HTML) pairs appended in order (report_strategies.py)."""
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>CodecVDC report</title>"
        f"<style>{CSS}</style></head><body><h1>CodecVDC report</h1>"
        f"<p class='note'>{_e(home)} &middot; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC</p>"
    ]
    if scores.empty:
        parts.append("<p>No VidCapQA scores yet: materialize <code>vidcapqa_scores</code>.</p>")
    else:
        parts += [
            "<h2>VidCapQA: accuracy (%) per dimension and caption source</h2>",
            comparison_table(scores),
            "<h2>Accuracy per dimension with bootstrap 95% confidence intervals</h2>",
            bar_chart(scores),
            "<h2>Caption tokens per video minute</h2>",
            tokens_table(scores),
        ]
    parts.append(caption_metrics_section(metrics))  # empty without caption_metrics rows
    if video is not None:
        parts += ["<h2>Timeline: anchors and residuals</h2>", timeline(*video)]
    for heading, body in sections:
        parts += [f"<h2>{_e(heading)}</h2>", body]
    parts.append("</body></html>")
    return "".join(parts)
