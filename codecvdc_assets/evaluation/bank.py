"""VidCapQA question banks: JSONL or Parquet rows `question_id, video_id, question, options, answer,
dimension, difficulty, source`, validated by a pandera model.

`options` is the list of option texts in letter order (A, B, C, ...); `answer` is the letter.
`dimension` is one of the 14 capability dimensions, or null when a question still needs re-labeling;
`difficulty` is easy / medium / hard / very hard, or null before construction assigns it.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

DIMENSIONS = [
    "action recognition",
    "attribute recognition",
    "camera movement",
    "counting",
    "direction",
    "holistic understanding",
    "object tracking",
    "reasoning",
    "rotation",
    "speed",
    "state change",
    "temporal grounding",
    "temporal sequence",
    "trajectory",
]
# CodecCap Table 2 groups (dynamics-centric vs static/persistence-oriented capabilities).
DYNAMIC = [
    "action recognition",
    "camera movement",
    "direction",
    "object tracking",
    "rotation",
    "speed",
    "temporal grounding",
    "temporal sequence",
    "trajectory",
]
STATIC = ["attribute recognition", "counting", "holistic understanding", "reasoning", "state change"]
DIFFICULTIES = ["easy", "medium", "hard", "very hard"]
LETTERS = string.ascii_uppercase
UNKNOWN = "unknown"


class BankSchema(pa.DataFrameModel):
    question_id: Series[str] = pa.Field(unique=True)
    video_id: Series[str]
    question: Series[str] = pa.Field(str_length={"min_value": 1})
    options: Series[object]
    answer: Series[str] = pa.Field(str_matches=r"^[A-Z]$")
    dimension: Series[str] = pa.Field(isin=DIMENSIONS, nullable=True)
    difficulty: Series[str] = pa.Field(isin=DIFFICULTIES, nullable=True)
    source: Series[str]

    @pa.dataframe_check
    def answer_is_an_option(cls, df: pd.DataFrame) -> Series[bool]:
        return pd.Series(
            [_is_options(o) and LETTERS.index(a) < len(o) for o, a in zip(df["options"], df["answer"], strict=True)],
            index=df.index,
        )

    class Config:
        strict = True
        coerce = True


def validate_bank(df: pd.DataFrame) -> pd.DataFrame:
    frame = df.copy()
    frame["options"] = frame["options"].map(lambda o: list(o) if o is not None else o)
    for col in ("dimension", "difficulty"):
        if col not in frame:
            frame[col] = None
        frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return BankSchema.validate(frame, lazy=True)


def load_bank(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: question bank not found")
    if path.suffix == ".parquet":
        df = pd.read_parquet(path)
    else:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        df = pd.DataFrame(rows, columns=list(BankSchema.to_schema().columns)) if not rows else pd.DataFrame(rows)
    return validate_bank(df)


def write_bank(df: pd.DataFrame, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    checked = validate_bank(df)
    if path.suffix == ".parquet":
        checked.to_parquet(path, index=False)
    else:
        with path.open("w") as fh:
            for row in checked.to_dict("records"):
                row = {k: (None if _missing(v) else v) for k, v in row.items()}
                row["options"] = list(row["options"])
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def option_map(options: list[str]) -> dict[str, str]:
    return {LETTERS[i]: text for i, text in enumerate(options)}


def _is_options(value: object) -> bool:
    """A list of 2 to 26 option texts (a list, tuple or, read back from Parquet, a NumPy array)."""
    return not isinstance(value, str) and hasattr(value, "__len__") and 2 <= len(value) <= 26
