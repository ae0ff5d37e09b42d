"""Importers from public benchmark layouts into the bank format.

TempCompass multi-choice (`{video_id: {dimension: [{question, answer}]}}`): the options are written
inside the question text ("...?\\nA. x\\nB. y"), the answer is "B. y". Its dimensions map to ours:
action -> action recognition, direction -> direction, speed -> speed, order -> temporal sequence,
attribute_change -> state change; anything else is left null for re-labeling.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from codecvdc_assets.evaluation.bank import LETTERS, validate_bank

TEMPCOMPASS_DIMENSIONS = {
    "action": "action recognition",
    "direction": "direction",
    "speed": "speed",
    "order": "temporal sequence",
    "attribute_change": "state change",
}
_OPTION = re.compile(r"^\(?([A-Z])[.)]\s*(.+?)\s*$")


class ImportError_(ValueError):
    """A pool entry that cannot be read; names the entry."""


def split_question(text: str) -> tuple[str, list[str]]:
    """('question', ['option A', 'option B', ...]) from a question with lettered option lines."""
    stem, options = [], []
    for line in text.splitlines():
        match = _OPTION.match(line.strip())
        if match and LETTERS.index(match.group(1)) == len(options):
            options.append(match.group(2))
        elif not options:
            stem.append(line.strip())
    return " ".join(s for s in stem if s), options


def import_tempcompass(path: str | Path, source: str = "tempcompass") -> pd.DataFrame:
    data = json.loads(Path(path).read_text())
    rows = []
    for video_id, dims in data.items():
        for dim, questions in dims.items():
            for i, item in enumerate(questions):
                qid = f"{source}/{video_id}/{dim}/{i}"
                question, options = split_question(item["question"])
                letter = item["answer"].strip()[:1]
                if len(options) < 2 or letter not in LETTERS[: len(options)]:
                    raise ImportError_(f"{qid}: cannot read the options or the answer {item['answer']!r}")
                rows.append(
                    {
                        "question_id": qid,
                        "video_id": str(video_id),
                        "question": question,
                        "options": options,
                        "answer": letter,
                        "dimension": TEMPCOMPASS_DIMENSIONS.get(dim),
                        "difficulty": None,
                        "source": source,
                    }
                )
    return validate_bank(pd.DataFrame(rows))


IMPORTERS = {"tempcompass": import_tempcompass}
