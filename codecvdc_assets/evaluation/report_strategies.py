"""The report's per-video panel: what a curator reads instead of SQL for one video.

- the anchor keyframes as small thumbnails (JPEG data URIs, at most THUMB_SIDE px and THUMB_MAX_BYTES),
  each with its anchor caption;
- the residuals on a timeline, their text on hover (SVG <title>);
- the evidence rows, accepted or rejected, with the rule's reason;
- the caption of every strategy side by side (CodecCap levels, direct, per-second, LongCaption-Agent,
  outside captioners) with its VidCapQA accuracy on this video and the tokens it cost.
Caption text is untrusted model output: every value goes through html.escape; the panel has no script.
Kept apart from report.py (the report's other sections) so sections can grow independently.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable

import cv2
import numpy as np
import pandas as pd

from codecvdc_assets.evaluation.sources import SOURCE_ASSETS, caption_sources, latest_run_calls

THUMB_SIDE = 160
THUMB_MAX_BYTES = 24_000
TABLES = (
    "segments",
    "anchors",
    "residuals",
    "evidence",
    "scene_narratives",
    "video_narratives",
    "direct_captions",
    "per_second_captions",
    "longcap_video",
    "vidcapqa_answers",
    "model_calls",
)
CSS = """
.vp{border:1px solid #ddd;padding:1em;margin-top:1em}.vp-anchors{display:flex;flex-wrap:wrap;gap:12px}
.vp-anchor-card{width:220px;font-size:.8em}.vp-anchor-card img{display:block;border:1px solid #ccc}
.vp-anchor-card p{max-height:9em;overflow:auto;margin:.3em 0}.vp-captions{display:grid;
grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:10px}.vp-caption{border:1px solid #ddd;
padding:6px;font-size:.8em}.vp-caption pre{white-space:pre-wrap;max-height:16em;overflow:auto;
font-family:inherit}.vp-ok{color:#1a7f37}.vp-no{color:#b42318}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def thumbnail(jpeg: bytes, side: int = THUMB_SIDE, max_bytes: int = THUMB_MAX_BYTES) -> str:
    """A data URI of the frame scaled to fit `side` px, re-encoded until it fits `max_bytes`."""
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return ""
    h, w = image.shape[:2]
    scale = min(1.0, side / max(h, w))
    small = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    for quality in (80, 65, 50, 35, 20):
        data = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()
        if len(data) <= max_bytes:
            break
    return "data:image/jpeg;base64," + base64.b64encode(data).decode()


def source_stats(tables: dict[str, pd.DataFrame]) -> dict[str, dict[str, float]]:
    """{source: {accuracy, n, tokens}} for this video: answers, and completion tokens of its assets."""
    out: dict[str, dict[str, float]] = {}
    answers = tables.get("vidcapqa_answers")
    if answers is not None and len(answers):
        for source, group in answers.groupby("source"):
            out[str(source)] = {"accuracy": float(group["correct"].mean()), "n": int(len(group))}
    calls = tables.get("model_calls")
    if calls is not None and len(calls):
        spent = latest_run_calls(calls).groupby("asset")["completion_tokens"].sum().to_dict()
        for source, assets in SOURCE_ASSETS.items():
            if any(a in spent for a in assets):
                out.setdefault(source, {})["tokens"] = float(sum(spent.get(a, 0) for a in assets))
    return out


def _anchors(tables: dict[str, pd.DataFrame], read_image: Callable[[str], bytes]) -> str:
    cards = []
    for a in tables["anchors"].sort_values("segment_idx").itertuples():
        try:
            uri = thumbnail(read_image(a.frame_sha256))
        except (OSError, KeyError, ValueError):
            uri = ""
        img = f'<img class="vp-thumb" alt="anchor {int(a.segment_idx)}" src="{uri}">' if uri else "<i>no frame</i>"
        cards.append(
            f'<div class="vp-anchor-card">{img}<b>scene {int(a.segment_idx)} &middot; {a.t_s:.1f} s</b>'
            f'<p class="vp-anchor-caption">{_e(a.caption)}</p></div>'
        )
    return f'<div class="vp-anchors">{"".join(cards)}</div>'


def _timeline(tables: dict[str, pd.DataFrame]) -> str:
    segments, residuals = tables["segments"], tables["residuals"]
    end = float(segments["end_s"].max()) if len(segments) else 1.0
    width, left = 1000, 10
    scale = (width - 2 * left) / max(end, 1e-6)
    svg = [f'<svg class="vp-timeline" xmlns="http://www.w3.org/2000/svg" width="{width}" height="70">']
    for i, s in enumerate(segments.sort_values("segment_idx").itertuples()):
        fill = "#e9eef5" if i % 2 == 0 else "#f4f4f4"
        svg.append(
            f'<rect x="{left + s.start_s * scale:.1f}" y="5" width="{(s.end_s - s.start_s) * scale:.1f}" '
            f'height="40" fill="{fill}" stroke="#bbb"/>'
        )
    colours = {"continuous": "#1f77b4", "discrete": "#d62728", "attribute": "#9467bd", "camera": "#ff7f0e"}
    for r in residuals.sort_values("t_s").itertuples():
        x = left + r.t_s * scale
        colour = colours.get(r.change_type, "#c7c7c7")
        tip = f"{r.t_prev_s:.1f}-{r.t_s:.1f} s [{r.change_type}] {r.subject}: {r.delta_caption}"
        svg.append(
            f'<line class="vp-residual" x1="{x:.1f}" x2="{x:.1f}" y1="8" y2="42" stroke="{colour}" '
            f'stroke-width="4"><title>{_e(tip)}</title></line>'
        )
    for t in range(0, int(end) + 1, max(1, int(end) // 10 or 1)):
        svg.append(f'<text x="{left + t * scale:.1f}" y="62" font-size="10" text-anchor="middle">{t}s</text>')
    svg.append("</svg>")
    return "".join(svg)


def _evidence(tables: dict[str, pd.DataFrame]) -> str:
    ev = tables["evidence"]
    if ev.empty:
        return "<p>No evidence rows.</p>"
    rows = []
    for e in ev.sort_values(["segment_idx", "t_start_s"]).itertuples():
        verdict = '<span class="vp-ok">accepted</span>' if e.accepted else '<span class="vp-no">rejected</span>'
        rows.append(
            f'<tr class="vp-evidence"><td>{int(e.segment_idx)}</td><td>{e.t_start_s:.1f}-{e.t_end_s:.1f}</td>'
            f'<td class="l">{_e(e.rule)}</td><td class="l">{_e(e.event)}</td><td>{int(e.support)}</td>'
            f'<td class="l">{verdict}</td><td class="l">{_e(e.reason)}</td></tr>'
        )
    head = "".join(f"<th>{h}</th>" for h in ("scene", "time s", "rule", "event", "support", "verdict", "reason"))
    return f'<table class="vp-evidence-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _captions(sources: dict[str, str], stats: dict[str, dict[str, float]]) -> str:
    cards = []
    for source in sorted(sources):
        st = stats.get(source, {})
        acc = f"{100 * st['accuracy']:.0f}% of {int(st['n'])}" if "accuracy" in st else "not answered"
        tokens = f"{st['tokens']:,.0f} tokens" if "tokens" in st else "tokens n/a"
        cards.append(
            f'<div class="vp-caption" data-source="{_e(source)}"><b>{_e(source)}</b><br>'
            f"<small>VidCapQA {acc} &middot; {tokens} &middot; {len(sources[source].split())} words</small>"
            f"<pre>{_e(sources[source])}</pre></div>"
        )
    return f'<div class="vp-captions">{"".join(cards)}</div>'


def render_panel(
    video_id: str,
    tables: dict[str, pd.DataFrame],
    read_image: Callable[[str], bytes],
    outside: dict[str, str] | None = None,
) -> str:
    """The panel's HTML; `tables` are this video's rows (missing tables are empty), `outside` the
    outside captioners' captions of this video."""
    tables = {name: tables.get(name, pd.DataFrame()) for name in TABLES}
    sources = caption_sources(lambda t: tables[t] if len(tables[t]) else None)
    sources.update(outside or {})
    parts = [f'<section class="vp" id="video-panel"><style>{CSS}</style><h3>{_e(video_id)}</h3>']
    if len(tables["anchors"]):
        parts += ["<h4>Anchor keyframes and captions</h4>", _anchors(tables, read_image)]
    if len(tables["segments"]):
        parts += ["<h4>Residuals on the timeline (hover for the text)</h4>", _timeline(tables)]
    if len(tables["evidence"]) or len(tables["anchors"]):
        parts += ["<h4>Evidence: acceptance rules</h4>", _evidence(tables)]
    parts += ["<h4>Captions of every strategy</h4>", _captions(sources, source_stats(tables))]
    parts.append("</section>")
    return "".join(parts)


def _pairs_rows(pairs: pd.DataFrame) -> str:
    rows = []
    for r in pairs.sort_values(["group", "source_a", "source_b", "dimension"]).itertuples():
        significant = ' class="vp-ok"' if r.mcnemar_p < 0.05 else ""
        rows.append(
            f'<tr class="pair"><td class="l">{_e(r.source_a)}</td><td class="l">{_e(r.source_b)}</td>'
            f'<td class="l">{_e(r.group)}</td><td class="l">{_e(r.dimension)}</td><td>{int(r.n)}</td>'
            f"<td>{100 * r.difference:+.1f}</td><td>[{100 * r.ci_low:+.1f}, {100 * r.ci_high:+.1f}]</td>"
            f"<td>{int(r.a_only)} / {int(r.b_only)}</td><td{significant}>{r.mcnemar_p:.3g}</td></tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "a",
            "b",
            "group",
            "name",
            "n",
            "a &minus; b (points)",
            "paired 95% CI",
            "a only / b only",
            "McNemar p",
        )
    )
    return f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody>"


def pairs_html(pairs: pd.DataFrame) -> str:
    """Paired comparisons: the overall rows, then (folded) per difficulty and per dimension."""
    if pairs.empty:
        return "<p>Fewer than two sources answered the same questions.</p>"
    overall = pairs[pairs["group"] == "overall"]
    groups = pairs[pairs["group"] != "overall"]  # "difficulty" sorts before "dimension"
    out = f'<table id="pairs">{_pairs_rows(overall)}</table>'
    if len(groups):
        out += (
            f"<details><summary>per difficulty and per dimension ({len(groups)} comparisons)</summary>"
            f'<table id="pairs-groups">{_pairs_rows(groups)}</table></details>'
        )
    return out
