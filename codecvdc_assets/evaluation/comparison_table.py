"""The comparison table in the shape of CodecCap's Table 2: dimensions grouped dynamics-centric and
static/persistence, one column per caption source, and the delta of CodecCap over direct captioning."""

from __future__ import annotations

import pandas as pd

from codecvdc_assets.evaluation.bank import DYNAMIC, STATIC

SOURCE_ORDER = [
    "codeccap:stream",
    "codeccap:scene",
    "codeccap:video",
    "codeccap:all",
    "direct:caption",
    "per_second:caption",
    "longcaption:video",
]
CODECCAP, DIRECT = "codeccap:all", "direct:caption"


def comparison_rows(scores: pd.DataFrame) -> tuple[list[str], list[tuple[str, str, dict[str, float | None]]]]:
    """(sources, [(group, row label, {source: accuracy})]) for dimensions that have answers."""
    sources = [s for s in SOURCE_ORDER if s in set(scores["source"])] + sorted(
        set(scores["source"]) - set(SOURCE_ORDER)
    )
    dims = scores[scores["group"] == "dimension"]
    rows = []
    for group, names in (("Dynamics-centric", DYNAMIC), ("Static / persistence", STATIC)):
        for name in names:
            sub = dims[dims["dimension"] == name]
            if len(sub):
                rows.append((group, name, dict(zip(sub["source"], sub["accuracy"], strict=True))))
    overall = scores[scores["group"] == "overall"]
    rows.append(("", "Overall", dict(zip(overall["source"], overall["accuracy"], strict=True))))
    return sources, rows


def comparison_markdown(scores: pd.DataFrame) -> str:
    if scores.empty:
        return "(no answers yet)"
    sources, rows = comparison_rows(scores)
    delta = CODECCAP in sources and DIRECT in sources
    header = ["group", "dimension", *sources] + (["delta CodecCap - direct"] if delta else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for group, name, values in rows:
        cells = [_pct(values.get(s)) for s in sources]
        if delta:
            a, b = values.get(CODECCAP), values.get(DIRECT)
            cells.append(f"{100 * (a - b):+.1f}" if a is not None and b is not None else "")
        lines.append("| " + " | ".join([group, f"**{name}**" if name == "Overall" else name, *cells]) + " |")
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "" if value is None or value != value else f"{100 * value:.1f}"


def pairs_markdown(pairs: pd.DataFrame, limit: int = 40) -> str:
    """Overall paired comparisons: difference in points, paired bootstrap 95 % CI, McNemar's exact p."""
    overall = pairs[pairs["group"] == "overall"] if len(pairs) else pairs
    if overall.empty:
        return "(fewer than two sources on the same questions)"
    lines = ["| a | b | n | a - b | 95% CI | McNemar p |", "|---|---|---|---|---|---|"]
    for r in overall.head(limit).itertuples():
        lines.append(
            f"| {r.source_a} | {r.source_b} | {r.n} | {100 * r.difference:+.1f} | "
            f"[{100 * r.ci_low:+.1f}, {100 * r.ci_high:+.1f}] | {r.mcnemar_p:.3g} |"
        )
    return "\n".join(lines)
