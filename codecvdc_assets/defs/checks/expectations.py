"""Great Expectations 1.x suites for the caption tables, run on in-memory DataFrames.

GX is imported lazily (it takes seconds) and used through an ephemeral context: no files, no
network. `validate` returns whether the suite passed and one readable line per failed expectation.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass
class Outcome:
    passed: bool
    failures: list[str] = field(default_factory=list)
    evaluated: int = 0

    def summary(self) -> str:
        return "all expectations met" if self.passed else "; ".join(self.failures)


@functools.lru_cache(maxsize=1)
def _context():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    batch_definition = (
        context.data_sources.add_pandas("lake").add_dataframe_asset("table").add_batch_definition_whole_dataframe("all")
    )
    return gx, batch_definition


def validate(df: pd.DataFrame, expectations: list[tuple[str, dict[str, Any]]], suite_name: str) -> Outcome:
    """Run expectations given as (ExpectationClassName, kwargs) on `df`."""
    gx, batch_definition = _context()
    suite = gx.ExpectationSuite(name=suite_name)
    for name, kwargs in expectations:
        suite.add_expectation(getattr(gx.expectations, name)(**kwargs))
    result = batch_definition.get_batch(batch_parameters={"dataframe": df}).validate(suite)
    failures = []
    for item in result.results:
        if item.success:
            continue
        cfg = item.expectation_config
        column = cfg.kwargs.get("column")
        detail = item.result or {}
        raised = _exception_message(item.exception_info)
        if raised:  # the expectation could not be evaluated: say why instead of a count
            failures.append(f"{cfg.type}({column or ''}): not evaluated: {str(raised)[:200]}")
            continue
        examples = detail.get("partial_unexpected_list") or detail.get("observed_value")
        failures.append(
            f"{cfg.type}({column or ''}): {detail.get('unexpected_count', '')} unexpected"
            + (f", e.g. {str(examples)[:160]}" if examples is not None else "")
        )
    return Outcome(bool(result.success), failures, len(result.results))


def _exception_message(info: dict | None) -> str | None:
    """GX reports exceptions either flat or nested per metric."""
    if not info:
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            return str(value.get("exception_message"))
    return None


def anchor_expectations(segments: pd.DataFrame, words_min: int, words_max: int) -> list[tuple[str, dict]]:
    return [
        ("ExpectColumnValuesToNotBeNull", {"column": "caption"}),
        ("ExpectColumnValueLengthsToBeBetween", {"column": "caption", "min_value": 1}),
        (
            "ExpectColumnValuesToBeBetween",
            {"column": "n_words", "min_value": words_min, "max_value": words_max},
        ),
        # every segment has an anchor
        (
            "ExpectColumnDistinctValuesToEqualSet",
            {"column": "segment_idx", "value_set": sorted(int(i) for i in segments["segment_idx"])},
        ),
        ("ExpectColumnValuesToBeUnique", {"column": "segment_idx"}),
    ]


def residual_expectations(words_min: int, words_max: int) -> list[tuple[str, dict]]:
    return [
        ("ExpectColumnValueLengthsToBeBetween", {"column": "delta_caption", "min_value": 1}),
        (
            "ExpectColumnValuesToBeBetween",
            {"column": "n_words", "min_value": words_min, "max_value": words_max},
        ),
        ("ExpectColumnValuesToBeInSet", {"column": "inside_segment", "value_set": [True]}),
        ("ExpectColumnValuesToBeBetween", {"column": "none_share", "min_value": 0.0, "max_value": 1.0}),
    ]


def residuals_with_segments(residuals: pd.DataFrame, segments: pd.DataFrame) -> pd.DataFrame:
    """Residuals plus `inside_segment` (both timestamps within the segment) and the `none` share."""
    bounds = segments.set_index("segment_idx")[["start_s", "end_s"]]
    joined = residuals.join(bounds, on="segment_idx")
    out = residuals.copy()
    out["inside_segment"] = (
        (joined["t_prev_s"] >= joined["start_s"] - 1e-6) & (joined["t_s"] < joined["end_s"] + 1e-6)
    ).fillna(False)
    out["none_share"] = float((residuals["change_type"] == "none").mean()) if len(residuals) else 0.0
    return out


def narrative_expectations() -> list[tuple[str, dict]]:
    return [
        ("ExpectColumnValuesToNotBeNull", {"column": "narrative"}),
        ("ExpectColumnValueLengthsToBeBetween", {"column": "narrative", "min_value": 1}),
        ("ExpectColumnValuesToBeBetween", {"column": "n_words", "min_value": 1}),
    ]
