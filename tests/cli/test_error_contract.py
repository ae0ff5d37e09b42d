"""The error contract of the command line: an expected error (bad input, a damaged lake file, an unusable
home, a busy port, ...) exits with code 2 and prints exactly one line on stderr, naming the input and the
reason, never a traceback. One table, every case a real `codecvdc` process over a shared home."""

from __future__ import annotations

import io
import socket
import subprocess
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from support.cli_helpers import CLI, add, env_for
from support.paths import PROJECT

from codecvdc_assets.cli import main as cli_main
from codecvdc_assets.video.synthetic import write_clip

DEMO_BANK = str(PROJECT / "resources" / "vidcapqa" / "demo_bank.jsonl")
DAMAGED = "lake/segments/video_id=x-0000000000/data.parquet"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A home with one registered video and a damaged lake file, and the bad files of the table."""
    folder = tmp_path_factory.mktemp("errors")
    home = folder / "home"
    add(home, [write_clip(str(folder / "clip.mp4"), 2.0, fps=10, width=96, height=64)])
    (home / DAMAGED).parent.mkdir(parents=True)
    (home / DAMAGED).write_bytes(b"PAR1 not really a parquet file")
    files = {
        "home": str(home),
        "folder": str(folder),
        "not_json": "not json\n",
        "bank_without_options": '{"question_id": "q1", "question": "?"}\n',
        "not_a_video": "hello\n",
        "a_file": "",
    }
    for name, text in list(files.items())[2:]:
        path = folder / (name + ".mp4" if name == "not_a_video" else name)
        path.write_text(text)
        files[name] = str(path)
    return files


@pytest.fixture(scope="module")
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


# (case, arguments, extra environment, what the line must name); {name} is filled from `inputs`.
CASES = [
    ("bad SQL", ["sql", "selec 1"], {}, 'syntax error at or near "selec"'),
    ("damaged lake file", ["sql", "select * from segments"], {}, "{home}/" + DAMAGED),
    ("writing SQL", ["sql", "copy videos to 'x.csv'"], {}, "statement 1 is COPY, refused"),
    ("missing SQL file", ["sql", "-f", "{folder}/none.sql"], {}, "{folder}/none.sql: No such file"),
    ("unusable home", ["status"], {"CODECVDC_HOME": "{a_file}/home"}, "CODECVDC_HOME: {a_file}/home: Not a directory"),
    ("unknown profile", ["run", "--profile", "nosuch"], {}, "no profile 'nosuch'"),
    ("missing instance settings", ["status"], {"CODECVDC_DAGSTER_YAML": "{folder}/none.yaml"}, "{folder}/none.yaml"),
    ("unknown video id", ["run", "--video", "nope-0000000000"], {}, "unknown video id(s): nope-0000000000"),
    ("unknown asset", ["run", "--select", "nosuch"], {}, "unknown asset(s): nosuch"),
    ("missing video", ["add", "{folder}/none.mp4"], {}, "{folder}/none.mp4: no such file or folder"),
    ("not a video", ["segment", "{not_a_video}"], {}, "{not_a_video}: not a readable media file"),
    ("unreadable bank", ["vidcapqa", "score", "--bank", "{folder}", "--answers", "{not_json}"], {}, "{folder}: "),
    (
        "invalid bank",
        ["vidcapqa", "score", "--bank", "{bank_without_options}", "--answers", "{not_json}"],
        {},
        "{bank_without_options}: not a valid question bank",
    ),
    (
        "bad answers file",
        ["vidcapqa", "score", "--bank", DEMO_BANK, "--answers", "{not_json}"],
        {},
        "{not_json}:1: not JSON",
    ),
    (
        "bad votes file",
        ["vidcapqa", "build", "--pool", DEMO_BANK, "--answers", "{not_json}", "-o", "{folder}/b.jsonl"],
        {},
        "{not_json}:1: not JSON",
    ),
    (
        "bad pool file",
        ["vidcapqa", "import", "tempcompass", "{not_json}", "-o", "{folder}/p.jsonl"],
        {},
        "{not_json}: not a tempcompass pool",
    ),
    (
        "too few resamples",
        ["vidcapqa", "score", "--bank", DEMO_BANK, "--answers", "x", "--resamples", "5"],
        {},
        "--resamples",
    ),
    ("unknown table", ["compact", "--table", "nosuch"], {}, "cannot compact nosuch"),
    (
        "port in use",
        ["serve-embedded", "--port", "{port}"],
        {},
        "serve-embedded: 127.0.0.1:{port}: Address already in use",
    ),
    ("remote host", ["serve-embedded", "--host", "0.0.0.0"], {}, "--host 0.0.0.0 is not loopback"),
]


def fill(case: tuple, inputs: dict[str, str], port: int) -> tuple[list[str], dict[str, str], str]:
    _, args, env, names = case
    values = {**inputs, "port": str(port)}
    return [a.format(**values) for a in args], {k: v.format(**values) for k, v in env.items()}, names.format(**values)


def check(case: str, code: int, stderr: str, names: str) -> None:
    assert code == 2, f"{case}: exit {code}\n{stderr}"
    lines = stderr.splitlines()
    assert len(lines) == 1, f"{case}: {len(lines)} lines on stderr:\n{stderr}"
    assert lines[0].startswith("codecvdc: error: "), lines[0]
    assert names in lines[0], f"{case}: {lines[0]!r} does not name {names!r}"


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_expected_errors_are_one_line_and_exit_2(
    case: tuple, inputs: dict[str, str], busy_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every case through the command's `main` in this process (an exception escaping it, which would be
    a traceback, fails the test); the environment is restored after each case."""
    args, env, names = fill(case, inputs, busy_port)
    for key in ("CODECVDC_PROFILE", "DAGSTER_HOME", "CODECVDC_DAGSTER_YAML"):
        # setenv first, so monkeypatch restores the variable's absence even when `main` sets it (--profile)
        monkeypatch.setenv(key, "")
        monkeypatch.delenv(key)
    monkeypatch.setenv("CODECVDC_HOME", inputs["home"])
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli_main(args)
    check(case[0], code, err.getvalue(), names)


IN_A_PROCESS = ["damaged lake file", "unusable home", "unknown profile", "port in use", "bad answers file"]


@pytest.mark.parametrize("name", IN_A_PROCESS)
def test_expected_errors_in_a_real_process(name: str, inputs: dict[str, str], busy_port: int) -> None:
    """The same contract for a `codecvdc` process: nothing else on stderr (no warning, no log), no traceback."""
    case = next(c for c in CASES if c[0] == name)
    args, env, names = fill(case, inputs, busy_port)
    environment = {**env_for(Path(inputs["home"])), **env}
    proc = subprocess.run([*CLI, *args], env=environment, capture_output=True, text=True, timeout=300)
    check(name, proc.returncode, proc.stderr, names)
    assert "Traceback" not in proc.stdout + proc.stderr
