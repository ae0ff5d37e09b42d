"""VidCapQA: the TempCompass importer, scoring (hand-computed), construction rules, the CLI."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support.paths import PROJECT, SHARED

from codecvdc_assets.evaluation.bank import DIMENSIONS, load_bank, validate_bank, write_bank
from codecvdc_assets.evaluation.bank_construction import allocate, build, vote_label
from codecvdc_assets.evaluation.importers import import_tempcompass, split_question
from codecvdc_assets.evaluation.scoring import judge, score

TEMPCOMPASS = SHARED / "qa" / "tempcompass" / "multi-choice.json"
CLI = [sys.executable, "-m", "codecvdc_assets.cli"]


def test_tempcompass_import() -> None:
    bank = import_tempcompass(TEMPCOMPASS)
    assert len(bank) == 1580 and bank["video_id"].nunique() == 410
    assert bank["dimension"].value_counts().to_dict() == {
        "action recognition": 338,
        "direction": 335,
        "speed": 317,
        "temporal sequence": 302,
        "state change": 288,
    }
    first = bank.set_index("question_id").loc["tempcompass/1034419625/action/0"]
    assert first["question"] == "What is the man doing in the video?"
    assert list(first["options"]) == [
        "dunking a basketball",
        "dribbling a basketball",
        "passing a basketball",
    ]
    assert first["answer"] == "A"
    assert set(bank["options"].map(len)) == {2, 3, 4}  # fewer than four options are kept as they are
    assert split_question("Q?\nA. x\nB. y") == ("Q?", ["x", "y"])


def bank_fixture() -> pd.DataFrame:
    rows = [
        ("q1", "v1", "direction", "easy", "B"),
        ("q2", "v1", "direction", "hard", "A"),
        ("q3", "v2", "counting", "easy", "C"),
        ("q4", "v2", "counting", "medium", "A"),
    ]
    return validate_bank(
        pd.DataFrame(
            [
                {
                    "question_id": q,
                    "video_id": v,
                    "question": f"question {q}?",
                    "options": ["w", "x", "y", "z"],
                    "answer": a,
                    "dimension": d,
                    "difficulty": diff,
                    "source": "fixture",
                }
                for q, v, d, diff, a in rows
            ]
        )
    )


def test_scores_match_a_hand_computed_fixture() -> None:
    answers = pd.DataFrame(
        [
            # codeccap: q1 right, q2 unknown, q3 right, q4 wrong -> 2/4, no-evidence 1/4
            ("q1", "codeccap:all", "B"),
            ("q2", "codeccap:all", "unknown"),
            ("q3", "codeccap:all", "c"),
            ("q4", "codeccap:all", "B"),
            # direct: all wrong or unknown -> 0/4, no-evidence 2/4
            ("q1", "direct:caption", "A"),
            ("q2", "direct:caption", "unknown"),
            ("q3", "direct:caption", "unknown"),
            ("q4", "direct:caption", "D"),
        ],
        columns=["question_id", "source", "answer"],
    )
    scores = score(judge(answers, bank_fixture()), seed=7, resamples=1000)
    cc, direct = scores["codeccap:all"], scores["direct:caption"]
    assert (cc["n"], cc["accuracy"], cc["no_evidence_rate"]) == (4, 0.5, 0.25)
    assert (direct["n"], direct["accuracy"], direct["no_evidence_rate"]) == (4, 0.0, 0.5)
    assert cc["per_dimension"]["direction"]["accuracy"] == 0.5  # q1 right, q2 unknown
    assert cc["per_dimension"]["counting"]["accuracy"] == 0.5  # q3 right, q4 wrong
    assert cc["per_dimension"]["direction"]["no_evidence_rate"] == 0.5
    assert cc["per_difficulty"]["easy"]["accuracy"] == 1.0 and cc["per_difficulty"]["hard"]["accuracy"] == 0.0
    assert cc["per_difficulty"]["easy"]["n"] == 2 and cc["per_difficulty"]["medium"]["n"] == 1
    # Degenerate groups have degenerate intervals; all intervals contain the point estimate.
    assert (direct["ci_low"], direct["ci_high"]) == (0.0, 0.0)
    assert (cc["per_difficulty"]["easy"]["ci_low"], cc["per_difficulty"]["easy"]["ci_high"]) == (1.0, 1.0)
    assert 0.0 <= cc["ci_low"] <= 0.5 <= cc["ci_high"] <= 1.0
    # The interval is the 2.5/97.5 percentiles of 1,000 seeded resamples: recompute it independently.
    stream = int.from_bytes(hashlib.sha256(b"7:codeccap:all|all").digest()[:8], "little")
    picks = np.random.default_rng(stream).integers(0, 4, size=(1000, 4))
    means = np.array([1, 0, 1, 0], dtype=float)[picks].mean(axis=1)
    assert (cc["ci_low"], cc["ci_high"]) == tuple(np.percentile(means, [2.5, 97.5]))
    # Reproducible with the seed.
    again = score(judge(answers, bank_fixture()), seed=7, resamples=1000)
    assert again == scores
    with pytest.raises(ValueError, match="not in the bank"):
        judge(pd.DataFrame([("nope", "x", "A")], columns=["question_id", "source", "answer"]), bank_fixture())


def test_unknown_aware_majority_voting() -> None:
    assert vote_label(["direction", "direction", "speed"])[0] == "direction"
    assert vote_label(["direction", "speed", "unknown"])[0] is None  # no label reaches 2 votes
    assert vote_label(["direction", "direction", "unknown", "unknown"])[0] is None  # not more than unknown
    assert vote_label(["direction", "direction", "unknown"])[0] == "direction"
    assert vote_label(["direction", "direction", "speed", "speed"])[0] is None  # a tie
    assert "tie" in vote_label(["direction", "direction", "speed", "speed"])[1]
    assert vote_label(["unknown", "unknown", "unknown"])[0] is None
    assert vote_label(["Speed", "speed ", "counting"])[0] == "speed"
    assert vote_label(["weather", "weather", "x"])[0] is None  # not one of the 14


def test_allocation_gives_rare_dimensions_all_and_shares_the_surplus() -> None:
    available = {"counting": 5, "direction": 400, "speed": 400, "rotation": 30}
    quota = allocate(available, 200)
    assert quota["counting"] == 5 and quota["rotation"] == 30  # rare: everything they have
    assert quota["direction"] + quota["speed"] == 165 and abs(quota["direction"] - quota["speed"]) <= 1
    assert sum(quota.values()) == 200
    assert sum(allocate({"a": 3, "b": 4}, 100).values()) == 7  # less than the target: all


def make_pool(n_per_dim: dict[str, int]) -> pd.DataFrame:
    rows = []
    for dim, n in n_per_dim.items():
        for i in range(n):
            rows.append(
                {
                    "question_id": f"{dim}-{i:03d}",
                    "video_id": f"v{i % 7}",
                    "question": "q?",
                    "options": ["a", "b", "c"],
                    "answer": "A",
                    "dimension": dim,
                    "difficulty": None,
                    "source": "pool",
                }
            )
    return validate_bank(pd.DataFrame(rows))


def test_build_pipeline_decisions_difficulty_and_sampling() -> None:
    pool = make_pool({"direction": 60, "speed": 60, "counting": 4})
    pool.loc[pool["question_id"] == "speed-000", "dimension"] = None  # needs a label
    votes = []
    for qid in pool["question_id"]:
        i = int(qid.split("-")[1])
        pattern = {0: "AAA", 1: "BBB", 2: "ABB", 3: "AAB"}[i % 4]  # 3/3, 0/3 unanimous, 1/3, 2/3 right
        votes += [("phase_a", f"m{m}", qid, pattern[m]) for m in range(3)]
    votes += [("relabel", f"l{m}", "speed-000", lab) for m, lab in enumerate(["speed", "speed", "unknown"])]
    votes += [("text_only", "t0", "direction-001", "A")]  # answerable without the video: dropped
    votes += [("phase_b", f"m{m}", q, "yes") for m in range(3) for q in pool["question_id"]]
    answers = pd.DataFrame(votes, columns=["step", "model", "question_id", "answer"])
    built = build(pool, answers, target=50, seed=3)
    decisions = built.decisions.set_index(["question_id", "step"])
    assert decisions.loc[("speed-000", "relabel"), "decision"] == "labeled"
    assert decisions.loc[("direction-001", "text_only"), "decision"] == "dropped"
    # i % 4: 0 -> 3/3 right (easy); 1 -> 0/3, all B (dropped); 2 -> 1/3, phase B all confirm (very hard);
    # 3 -> 2/3 right (medium).
    assert decisions.loc[("direction-004", "phase_a"), "reason"].endswith("easy")
    assert decisions.loc[("direction-005", "phase_a"), "decision"] == "dropped"
    assert decisions.loc[("direction-006", "phase_b"), "reason"].startswith("consensus hard")
    assert decisions.loc[("direction-007", "phase_a"), "reason"].endswith("medium")
    assert len(built.bank) == 50
    per_dim = built.bank["dimension"].value_counts().to_dict()
    assert per_dim["counting"] == 3  # counting-001 dropped (0/3, unanimous B); the rare rest all taken
    assert abs(per_dim["direction"] - per_dim["speed"]) <= 1
    assert set(built.bank["difficulty"]) <= {"easy", "medium", "very hard"}
    again = build(pool, answers, target=50, seed=3)
    assert list(again.bank["question_id"]) == list(built.bank["question_id"])
    other = build(pool, answers, target=50, seed=4)
    assert list(other.bank["question_id"]) != list(built.bank["question_id"])


def test_cli_import_score_build(tmp_path: Path) -> None:
    bank_path = tmp_path / "bank.jsonl"
    proc = subprocess.run(
        [*CLI, "vidcapqa", "import", "tempcompass", str(TEMPCOMPASS), "-o", str(bank_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    bank = load_bank(bank_path)
    assert len(bank) == 1580
    rows = [
        {"question_id": q, "source": "fixture", "answer": a}
        for q, a in zip(bank["question_id"][:100], bank["answer"][:100], strict=True)
    ]
    rows += [{"question_id": q, "source": "guess", "answer": "A"} for q in bank["question_id"][:100]]
    answers = tmp_path / "answers.jsonl"
    answers.write_text("".join(json.dumps(r) + "\n" for r in rows))
    proc = subprocess.run(
        [*CLI, "vidcapqa", "score", "--bank", str(bank_path), "--answers", str(answers), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    scores = json.loads(proc.stdout)
    assert scores["fixture"]["accuracy"] == 1.0 and scores["fixture"]["n"] == 100
    expected = float((bank["answer"][:100] == "A").mean())
    assert scores["guess"]["accuracy"] == pytest.approx(expected)
    for entry in scores.values():
        assert set(entry) >= {"accuracy", "ci_low", "ci_high", "no_evidence_rate", "n", "per_dimension"}
        for stats in entry["per_dimension"].values():
            assert set(stats) == {"accuracy", "ci_low", "ci_high", "no_evidence_rate", "n"}
    votes = tmp_path / "votes.jsonl"
    votes.write_text(
        "".join(
            json.dumps({"step": "phase_a", "model": f"m{m}", "question_id": q, "answer": a}) + "\n"
            for q, a in zip(bank["question_id"], bank["answer"], strict=True)
            for m in range(3)
        )
    )
    out = tmp_path / "built.jsonl"
    proc = subprocess.run(
        [
            *CLI,
            "vidcapqa",
            "build",
            "--pool",
            str(bank_path),
            "--answers",
            str(votes),
            "--target",
            "100",
            "--seed",
            "1",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    built = load_bank(out)
    assert len(built) == 100 and built["dimension"].value_counts().max() == 20
    assert (tmp_path / "built.decisions.jsonl").exists()
    bad = subprocess.run(
        [*CLI, "vidcapqa", "score", "--bank", str(tmp_path / "nope.jsonl"), "--answers", str(answers)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "nope.jsonl" in bad.stderr


def test_bank_round_trip_and_validation(tmp_path: Path) -> None:
    bank = bank_fixture()
    for name in ("b.jsonl", "b.parquet"):
        assert load_bank(write_bank(bank, tmp_path / name)).equals(load_bank(write_bank(bank, tmp_path / name)))
    broken = bank.copy()
    broken.loc[0, "answer"] = "E"  # not an option of a 4-option question
    with pytest.raises(Exception, match="answer_is_an_option"):
        validate_bank(broken)
    wrong_dim = bank.copy()
    wrong_dim.loc[0, "dimension"] = "weather"
    with pytest.raises(Exception, match="dimension"):
        validate_bank(wrong_dim)
    assert len(DIMENSIONS) == 14


def test_construction_assets_from_an_imported_answers_table(home: Path, tmp_path: Path) -> None:
    """The pool and construction assets over TempCompass with answers given as a table."""
    import dagster as dg

    from codecvdc_assets.definitions import build_assets, build_resources
    from codecvdc_assets.storage.lake import GLOBAL, Lake

    pool = import_tempcompass(TEMPCOMPASS)
    votes = tmp_path / "votes.jsonl"
    rows = []
    for q, a in zip(pool["question_id"], pool["answer"], strict=True):
        rows += [
            {"step": "phase_a", "model": f"m{m}", "question_id": q, "answer": a if m < 2 else "unknown"}
            for m in range(3)
        ]
    votes.write_text("".join(json.dumps(r) + "\n" for r in rows))
    profile = {
        "vidcapqa": {
            "pool": str(TEMPCOMPASS),
            "pool_layout": "tempcompass",
            "construction_answers": str(votes),
            "construction_target": 200,
            "construction_seed": 5,
        }
    }
    resources = build_resources(profile, str(home))
    assets = build_assets(resources)
    names = {k.to_user_string() for a in assets for k in a.keys}
    assert {"vidcapqa_pool", "vidcapqa_construction"} <= names
    result = dg.materialize(
        assets,
        resources=resources,
        selection=["vidcapqa_pool", "vidcapqa_construction"],
        instance=dg.DagsterInstance.get(),
    )
    assert result.success
    built = Lake(home).read("vidcapqa_built_bank", GLOBAL)
    decisions = Lake(home).read("vidcapqa_decisions", GLOBAL)
    assert len(built) == 200 and set(built["difficulty"]) == {"medium"}  # 2/3 right everywhere
    assert built["dimension"].value_counts().to_dict() == {d: 40 for d in built["dimension"].unique()}
    skipped = decisions[decisions["decision"] == "skipped"]["step"].tolist()
    assert skipped == ["text_only"]  # no text-only answers were given
    assert (decisions["step"] == "sampling").sum() == len(pool)


def test_construction_with_live_models_on_registered_videos(home: Path, tmp_path: Path) -> None:
    """Relabel, text-only and phase A/B asked live (embedded models, three of each) about the demo bank's
    videos once their frames are in the lake."""
    import shutil

    import dagster as dg
    from support.paths import shared

    from codecvdc_assets.definitions import build_assets, build_resources
    from codecvdc_assets.runs.execute import materialize_many
    from codecvdc_assets.runs.instance import add_partitions
    from codecvdc_assets.runs.selection import expand_selection
    from codecvdc_assets.storage.lake import GLOBAL, Lake
    from codecvdc_assets.storage.registry import Registry

    clip = tmp_path / "bikes.mp4"  # named as in the demo bank: its questions match this video
    shutil.copy(shared("bikes.mp4"), clip)
    video_id = Registry(home).register(clip)[0].video_id
    instance = dg.DagsterInstance.get()
    add_partitions(instance, [video_id])
    demo_bank = PROJECT / "resources" / "vidcapqa" / "demo_bank.jsonl"
    text = {"backend": "embedded", "model": "embedded-rules-v3"}
    vision = {"backend": "embedded", "model": "embedded-cv-v1"}
    profile = {
        "vidcapqa": {
            "pool": str(demo_bank),
            "construction_target": 10,
            "construction_models": {
                "relabel": [text] * 3,
                "text_only": [text],
                "phase_a": [vision] * 3,
                "phase_b": [vision] * 3,
            },
        }
    }
    resources = build_resources(profile, str(home))
    defs = dg.Definitions(assets=build_assets(resources), resources=resources)
    (outcome,) = materialize_many(defs, instance, {video_id: expand_selection(defs, ["frames"])}, Lake(home))
    assert outcome.ok, outcome.error
    result = dg.materialize(
        defs.assets, resources=resources, instance=instance, selection=["vidcapqa_pool", "vidcapqa_construction"]
    )
    assert result.success
    decisions = Lake(home).read("vidcapqa_decisions", GLOBAL)
    by = decisions.set_index(["question_id", "step"])
    # The keyword re-labeler, three votes: "How many shots" is counting.
    assert by.loc[("demo/bikes/06", "relabel"), "reason"].startswith("label counting")
    # Questions about videos without frames in the lake get no visual answers.
    assert by.loc[("demo/shots/00", "phase_a"), "reason"] == "no phase A answers"
    # The bikes questions were looked at: phase A decided each, from 3 live answers.
    bikes = decisions[decisions["question_id"].str.startswith("demo/bikes") & (decisions["step"] == "phase_a")]
    assert len(bikes) >= 1 and all("/3" in r for r in bikes["reason"])
    calls = pd.concat([pd.read_parquet(p) for p in (home / "lake" / "model_calls").glob("video_id=_all/*.parquet")])
    assert set(calls["task"]) >= {"relabel", "qa_answer", "qa_visual"}
