"""caption_quality rows from a caption table, the row key in Python and in SQL (exports), the attempt from
the client's outcomes, and evidence rule 5 (a flagged residual is never accepted)."""

from __future__ import annotations

import duckdb
import pandas as pd

from codecvdc_assets.captioning.evidence import Residual, accept
from codecvdc_assets.export.quality import row_sql
from codecvdc_assets.models.client import AnswerOutcome
from codecvdc_assets.quality.settings import QualitySettings
from codecvdc_assets.quality.table import CAPTION_ASSETS, dataset_duplicates, quality_rows, row_keys
from codecvdc_assets.schemas import validate

S = QualitySettings()


def residual_table(captions: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "video_id": "v1",
            "segment_idx": [i // 4 for i in range(len(captions))],
            "pair_idx": [i % 4 for i in range(len(captions))],
            "delta_caption": captions,
        }
    )


def test_quality_rows_of_residuals() -> None:
    captions = [
        "The man walks to the left.",
        "I'm sorry, but I can't help with that.",
        "a butterfly, a butterfly, a butterfly, a butterfly, a butterfly.",
        "The door opens.",
        "Мужчина идёт по улице и разговаривает по телефону.",
    ]
    outcomes = [AnswerOutcome("v1", "residuals", "residual", {"residuals": [{"delta_caption": captions[1]}]}, (), 3)]
    rows = quality_rows("v1", CAPTION_ASSETS["residuals"], residual_table(captions), S, "Describe changes.", outcomes)
    validate("caption_quality", rows)  # the pandera schema of the lake table
    assert list(zip(rows["row"], rows["flag"], rows["attempt"], strict=True)) == [
        ("segment_idx=0 pair_idx=1", "refusal", 3),
        ("segment_idx=0 pair_idx=2", "repetition", 1),
        ("segment_idx=1 pair_idx=0", "language", 1),
    ]


def test_collapse_is_recorded_for_every_repeated_caption() -> None:
    rows = quality_rows("v1", CAPTION_ASSETS["residuals"], residual_table(["The camera tilts up."] * 8), S)
    assert list(rows["flag"]) == ["collapse"] * 8 and set(rows["value"]) == {1.0}
    # anchors do not collapse (one per scene), residuals and per-second captions do
    assert not CAPTION_ASSETS["anchors"].collapse and CAPTION_ASSETS["per_second_captions"].collapse


def test_row_key_in_sql_equals_python() -> None:
    frame = residual_table(["a", "b", "c", "d", "e"])
    expected = list(row_keys(frame, CAPTION_ASSETS["residuals"]))
    got = duckdb.sql(f"select {row_sql('residuals')} as k from frame t order by segment_idx, pair_idx").df()["k"]
    assert list(got) == expected
    narratives = pd.DataFrame({"video_id": ["v1"], "narrative": ["x"]})
    assert list(row_keys(narratives, CAPTION_ASSETS["video_narratives"])) == [""]
    assert duckdb.sql(f"select {row_sql('video_narratives')} as k from narratives t").fetchall() == [("",)]


def test_dataset_duplicates_of_video_narratives() -> None:
    long = "A man in a dark suit walks slowly along a crowded city street at night while neon signs glow above him."
    frame = pd.DataFrame({"video_id": ["a", "b", "c"], "narrative": [long, long.upper(), "A cat sleeps on a sofa."]})
    rows = dataset_duplicates(CAPTION_ASSETS["video_narratives"], frame, S)
    assert list(rows["video_id"]) == ["a", "b"] and set(rows["flag"]) == {"duplicate"}


def test_a_flagged_residual_is_never_evidence() -> None:
    left = ("The red car moves left.", "continuous", "red car", "center", "left", "left")
    claims = [Residual(i, float(i), float(i + 1), *left) for i in range(3)]
    accepted = [e for e in accept(0, claims) if e.accepted]
    assert len(accepted) == 1 and accepted[0].support == 3
    events = accept(0, claims, flagged={1: "refusal"})
    quality = [e for e in events if e.rule == "quality"]
    assert len(quality) == 1 and not quality[0].accepted and quality[0].reason == "flagged residual: refusal"
    # The flagged pair supports nothing: the two others are not consecutive, each seen once: rejected.
    assert not [e for e in events if e.accepted]
    assert all(not e.accepted for e in accept(0, claims, flagged={0: "language", 1: "language", 2: "language"}))
