"""VidCapQA question banks: JSONL or Parquet rows `question_id, video_id, question, options, answer,
dimension, difficulty, source`, validated by a pandera model.

`options` is the list of option texts in letter order (A, B, C, ...); `answer` is the letter.
`dimension` is one of the 14 capability dimensions, or null when a question still needs re-labeling;
`difficulty` is easy / medium / hard / very hard, or null before construction assigns it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from codecvdc_assets.schemas import DIFFICULTIES, DIMENSIONS, DYNAMIC, LETTERS, STATIC, BankSchema  # noqa: F401 (the bank's vocabulary)

UNKNOWN = "unknown"


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
