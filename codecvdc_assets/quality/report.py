"""The report's "Caption quality" section: flagged captions per asset and flag (sql/caption_quality.sql)."""

from __future__ import annotations

import html

import pandas as pd

from codecvdc_assets.settings import project_dir


def summary_sql() -> str:
    """The summary query users run as `codecvdc sql -f sql/caption_quality.sql` (one definition)."""
    return (project_dir() / "sql" / "caption_quality.sql").read_text()


def quality_html(summary: pd.DataFrame) -> str:
    """A table of the summary's rows (asset, flag, captions, videos, mean_value, max_attempt)."""
    if summary.empty:
        return "<p>No caption was flagged by the quality gates (README &ldquo;Caption quality gates&rdquo;).</p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in summary.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in summary.itertuples(index=False)
    )
    note = (
        "<p class='note'>Captions still flagged after their re-asks (<code>caption_quality</code>): kept in the "
        "lake, never accepted as evidence, left out of releases by default.</p>"
    )
    return f"{note}<table id='caption-quality'><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
