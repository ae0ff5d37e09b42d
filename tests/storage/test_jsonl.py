"""The one JSONL reader behind answers, votes, captions and long-caption references: the same wording
of every fault whichever command reads the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from codecvdc_assets.cli.common import CliError, read_jsonl
from codecvdc_assets.evaluation.dense.inputs import DenseInputError
from codecvdc_assets.evaluation.external import CaptionsError, load_captions
from codecvdc_assets.evaluation.lake_metrics import load_long_references


def _readers(path: Path):
    return [
        (CliError, lambda: read_jsonl(str(path), ["question_id"])),
        (CaptionsError, lambda: load_captions(path)),
        (DenseInputError, lambda: load_long_references(str(path))),
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "No such file or directory"),
        ("\n  \n{oops\n", ":3: not JSON (Expecting property name enclosed in double quotes)"),
        ("[1, 2]\n", ":1: not a JSON object"),
        (b"\xff\xfe{}", ": not UTF-8 text"),
    ],
)
def test_every_reader_words_a_fault_alike(tmp_path: Path, content: str | bytes | None, message: str) -> None:
    path = tmp_path / "rows.jsonl"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    for error, read in _readers(path):
        with pytest.raises(error) as caught:
            read()
        text = str(caught.value)
        assert text.startswith(str(path)) and message in text and "\n" not in text, (error, text)


def test_blank_lines_are_skipped_and_line_numbers_kept(tmp_path: Path) -> None:
    path = tmp_path / "captions.jsonl"
    path.write_text('\n{"video_id": "v1", "caption": "a red car"}\n\n{"video_id": "v2"}\n')
    with pytest.raises(CaptionsError, match=r"captions.jsonl:4: a row needs video_id and caption"):
        load_captions(path)
    path.write_text('\n{"video_id": "v1", "caption": "a red car"}\n\n')
    assert load_captions(path).to_dict("records") == [
        {"video_id": "v1", "source": "captions:caption", "caption": "a red car"}
    ]
