"""Captioning strategies side by side (issue 15): contextual residuals, LongCaption-Agent, VidCapQA for
any captioner (answer parsing, outside captions from the CLI and the profile), paired statistics.

One materialized home for the module: a generated 25 s clip with three shots (LongCaption-Agent, the
profile's outside captions) and two 3 s clips (residuals with and without anchor context).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest
from support.model_helpers import jpeg, red_square_frames
from support.paths import PROJECT

from codecvdc_assets.captioning import chain
from codecvdc_assets.captioning import longcaption_agent as lc
from codecvdc_assets.captioning.prompts import load_prompt
from codecvdc_assets.definitions import build_definitions
from codecvdc_assets.evaluation.bank import option_map, validate_bank
from codecvdc_assets.evaluation.choices import parse_choice
from codecvdc_assets.evaluation.importers import import_tempcompass
from codecvdc_assets.evaluation.paired import mcnemar_exact, paired_bootstrap_ci, pairs_table
from codecvdc_assets.models import messages as m
from codecvdc_assets.models.embedded import vision
from codecvdc_assets.runs.execute import materialize_many
from codecvdc_assets.runs.instance import add_partitions
from codecvdc_assets.runs.selection import expand_selection
from codecvdc_assets.runs.status import partition_status
from codecvdc_assets.storage.catalog import connect
from codecvdc_assets.storage.lake import Lake
from codecvdc_assets.storage.registry import Registry
from codecvdc_assets.video.synthetic import write_clip

TEMPCOMPASS = PROJECT.parent / "shared" / "qa" / "tempcompass" / "multi-choice.json"
CLI = [sys.executable, "-m", "codecvdc_assets.cli"]
CHAIN = ["videos", "segments", "frames", "anchors", "residuals"]
LONG = ["videos", "segments", "frames", "longcap_frames", "longcap_clips", "longcap_video"]


def _bank_rows(video: str) -> list[dict]:
    """Questions about the 25 s clip (shots: blue 0-8 s, red 8-17 s, green 17-25 s; a white square moves right)."""
    base = {"video_id": video, "source": "test"}
    return [
        {**base, "question_id": "t/0", "question": "In which direction does the white square move?",
         "options": ["left", "right", "up", "down"], "answer": "B", "dimension": "direction", "difficulty": "easy"},
        {**base, "question_id": "t/1", "question": "How many scenes does the video have?",
         "options": ["1", "2", "3", "4"], "answer": "C", "dimension": "counting", "difficulty": "medium"},
        {**base, "question_id": "t/2", "question": "What is the background colour at the end?",
         "options": ["blue", "red", "green", "yellow"], "answer": "C", "dimension": "attribute recognition",
         "difficulty": "hard"},
    ]  # fmt: skip


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory):
    """The module's home: a project copy with two profiles (anchor context on / off), the clips
    registered, LongCaption-Agent and VidCapQA run on the 25 s clip and the caption chain on the short ones."""
    root = tmp_path_factory.mktemp("strategies")
    project = root / "project"
    for name in ("prompts", "sql", "resources"):
        shutil.copytree(PROJECT / name, project / name)
    clips = {
        "clip25": write_clip(str(root / "clip25.mp4"), 25.0, fps=10, width=192, height=144, cuts_s=(8.0, 17.0)),
        "ctx": write_clip(str(root / "ctx.mp4"), 3.0, fps=10, width=192, height=144),
        "noctx": write_clip(str(root / "noctx.mp4"), 3.0, fps=10, width=192, height=144, seed=3),
    }
    (project / "bank.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _bank_rows("clip25")))
    # The outside captioner states the correct option's text of t/0 and nothing else.
    (project / "outside.jsonl").write_text(json.dumps({"video_id": "clip25", "caption": "right"}) + "\n")
    embedded = (project / "resources" / "embedded.yaml").read_text()
    on = embedded.replace("bank: resources/vidcapqa/demo_bank.jsonl", "bank: bank.jsonl")
    on = on.replace(
        "  direct_frames: 8 ", "  external_captions: [{source: outside, path: outside.jsonl}]\n  direct_frames: 8 "
    )
    assert "external_captions: [" in on and "bank: bank.jsonl" in on
    (project / "resources" / "ctx.yaml").write_text(on)
    (project / "resources" / "noctx.yaml").write_text(on.replace("residual_context: anchor", "residual_context: none"))
    target = root / "home"
    target.mkdir()
    env = {"CODECVDC_HOME": str(target), "CODECVDC_PROJECT_DIR": str(project), "DAGSTER_HOME": str(target / "dagster")}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        from codecvdc_assets.settings import dagster_home

        dagster_home(target)
        registry = Registry(target)
        ids = {name: registry.register(path)[0].video_id for name, path in clips.items()}
        instance = dg.DagsterInstance.get()
        add_partitions(instance, list(ids.values()))
        defs_on = build_definitions("ctx", home=str(target))
        defs_off = build_definitions("noctx", home=str(target))
        lake = Lake(target)
        plan = {ids["ctx"]: expand_selection(defs_on, CHAIN)}
        keys = expand_selection(defs_on, [*LONG, "vidcapqa_bank", "vidcapqa_answers", "vidcapqa_scores"])
        plan[ids["clip25"]] = keys
        outcomes = materialize_many(defs_on, instance, plan, lake)
        outcomes += materialize_many(defs_off, instance, {ids["noctx"]: expand_selection(defs_off, CHAIN)}, lake)
        assert all(o.ok for o in outcomes), [o.error for o in outcomes]
        yield {"home": target, "project": project, "ids": ids, "instance": instance, "lake": lake,
               "defs_on": defs_on, "defs_off": defs_off, "clip25": clips["clip25"]}  # fmt: skip
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def sql(home: Path, query: str) -> pd.DataFrame:
    con = connect(home)
    try:
        return con.execute(query).fetchdf()
    finally:
        con.close()


# ------------------------------------------------------------------ contextual residuals


def _residual_blocks(home: dict, video: str, context: str) -> list[dict]:
    lake = home["lake"]
    frames = lake.read("frames", video)
    from codecvdc_assets.storage.frame_store import FrameStore

    store = FrameStore(str(home["home"] / "frames"))
    settings = chain.ChainSettings(8, 1, context)
    anchors = lake.read("anchors", video) if context == "anchor" else None
    plan = chain.residual_requests(video, frames, store.read, load_prompt("residual"), settings, anchors)
    texts = [t for _, _, r in plan for t in m.texts(r.messages, role="user")]
    return [b for t in texts for b in m.json_blocks(t)]


def test_residual_requests_carry_the_anchor_only_with_context(home: dict) -> None:
    video = home["ids"]["ctx"]
    anchor = home["lake"].read("anchors", video).iloc[0]
    blocks = _residual_blocks(home, video, "anchor")
    assert blocks and all(b["anchor"]["caption"] == anchor["caption"] for b in blocks)
    entities = [{"label": e["label"], "zone": e["zone"]} for e in json.loads(anchor["entities_json"])]
    assert entities and blocks[0]["anchor"]["entities"] == entities
    assert all("anchor" not in b for b in _residual_blocks(home, video, "none"))
    # The ablation is another asset: its own version, and no anchors input.
    graph_on, graph_off = home["defs_on"].resolve_asset_graph(), home["defs_off"].resolve_asset_graph()
    key = dg.AssetKey("residuals")
    assert graph_on.get(key).code_version != graph_off.get(key).code_version
    assert dg.AssetKey("anchors") in graph_on.get(key).parent_keys
    assert dg.AssetKey("anchors") not in graph_off.get(key).parent_keys


def test_anchor_prompt_edit_makes_residuals_stale_only_with_context(home: dict) -> None:
    prompt = home["project"] / "prompts" / "anchor.md"
    original = prompt.read_text()
    ids, instance, lake = home["ids"], home["instance"], home["lake"]
    try:
        before_on = partition_status(home["defs_on"], instance, lake, [ids["ctx"]])[ids["ctx"]]
        before_off = partition_status(home["defs_off"], instance, lake, [ids["noctx"]])[ids["noctx"]]
        assert before_on["residuals"] == before_off["residuals"] == "fresh"
        prompt.write_text(original + "\nMention the weather.\n")
        on = partition_status(build_definitions("ctx"), instance, lake, [ids["ctx"]])[ids["ctx"]]
        off = partition_status(build_definitions("noctx"), instance, lake, [ids["noctx"]])[ids["noctx"]]
    finally:
        prompt.write_text(original)
    assert on["anchors"] == off["anchors"] == "stale"
    assert on["residuals"] == "stale" and off["residuals"] == "fresh"
    assert on["frames"] == off["frames"] == "fresh"


def test_embedded_describer_names_subjects_as_the_anchor_did() -> None:
    """A red square moving right: with the anchor's entity at its position ('red ball'), the residuals
    name it 'red ball', and attribute locking in evidence locks and checks that subject."""
    frames = red_square_frames(6)
    zone = vision.zone_of(30 / 320, 120 / 240)
    plain = vision.describe_window(frames)
    named = vision.describe_window(
        frames, 0, [{"label": "person", "zone": "upper-right"}, {"label": "red ball", "zone": zone}]
    )
    moving = [r for r in named if r["change_type"] == "continuous"]
    assert moving and {r["subject"] for r in moving} == {"red ball"}
    assert all("red ball" in r["delta_caption"] for r in moving)
    assert {r["subject"] for r in plain if r["change_type"] == "continuous"} == {"red object"}
    anchors = pd.DataFrame([{"segment_idx": 0, "entities_json": json.dumps([{"label": "red ball", "zone": zone,
                             "attributes": ["small"]}])}])  # fmt: skip
    rows = [
        {"segment_idx": 0, "pair_idx": i, "t_prev_s": float(i), "t_s": float(i + 1), **r} for i, r in enumerate(named)
    ]
    evidence = chain.build_evidence("v", anchors, pd.DataFrame(rows))
    lock = evidence[evidence["rule"] == "attribute_lock"]
    assert set(lock["subject"]) == {"red ball"}
    assert evidence[(evidence["rule"] == "continuous") & evidence["accepted"]]["subject"].tolist() == ["red ball"]


# ------------------------------------------------------------------ LongCaption-Agent


def test_longcaption_agent_windows_groups_and_merge(home: dict) -> None:
    video = home["ids"]["clip25"]
    lake = home["lake"]
    clips = lake.read("longcap_clips", video).sort_values("clip_idx")
    assert clips["start_s"].tolist() == [0, 5, 10, 15] and clips["end_s"].tolist() == [10, 15, 20, 25]
    frames = lake.read("longcap_frames", video)
    assert len(frames) == 25 and frames["t_s"].between(0, 25).all()
    assert [c.start_s for c in lc.clip_windows(27.0)] == [0, 5, 10, 15, 20] and lc.clip_windows(27.0)[-1].end_s == 27
    assert [(c.start_s, c.end_s) for c in lc.clip_windows(25.0, 8, 6)] == [(0, 8), (6, 14), (12, 20), (18, 25)]
    # The merge request: timestamped, frame groups interleaved with the clips in time order.
    request = lc.merge_request(video, frames, clips, load_prompt("longcap_video"))
    data = m.json_blocks(m.texts(request.messages, role="user")[-1])[-1]
    kinds = [(item["kind"], item["clip_idx"]) for item in data["timeline"]]
    assert kinds == [(k, i) for i in range(4) for k in ("frames", "clip")]
    grouped = {}
    for item in data["timeline"]:
        if item["kind"] == "frames":
            grouped[item["clip_idx"]] = [f["t_s"] for f in item["frames"]]
    # Each frame once, under a clip that holds it, the nearest centre (5, 10, 15, 20 s) winning.
    assert sorted(t for ts in grouped.values() for t in ts) == sorted(frames["t_s"].round(3))
    for idx, times in grouped.items():
        start, end = clips.iloc[idx]["start_s"], clips.iloc[idx]["end_s"]
        centres = [5, 10, 15, 20]
        for t in times:
            assert start <= t <= end
            assert abs(t - centres[idx]) <= min(abs(t - c) for c in centres)
    # The final caption says what every clip's caption said; the shots' colours reach it.
    final = lake.read("longcap_video", video).iloc[0]["caption"]
    for caption in clips["caption"]:
        assert caption in final
    assert all(colour in final for colour in ("blue", "red", "green"))
    # Calls accounted for per asset; the clips ran in order, each given its predecessor's caption.
    calls = sql(home["home"], f"select asset, count(*) n, sum(completion_tokens) t from model_calls "
                f"where video_id = '{video}' group by asset")  # fmt: skip
    by_asset = dict(zip(calls["asset"], calls["n"], strict=True))
    assert by_asset["longcap_frames"] == 25 and by_asset["longcap_clips"] == 4 and by_asset["longcap_video"] == 1
    second = lc.clip_request(
        video, lc.Clip(1, 5, 15), [5.0], [jpeg(red_square_frames(1)[0])], clips.iloc[0]["caption"], "p"
    )
    context = m.json_blocks(" ".join(m.texts(second.messages, role="user")))[-1]
    assert context["previous_clip_caption"] == clips.iloc[0]["caption"]


# ------------------------------------------------------------------ VidCapQA for any captioner


TEMPCOMPASS_STYLES = {
    # how TempCompass answers look ("A. dunking a basketball") and what models write around them
    "letter": lambda letter, text: letter,
    "paren": lambda letter, text: f"({letter})",
    "dot": lambda letter, text: f"{letter}.",
    "tempcompass": lambda letter, text: f"{letter}. {text}",
    "text": lambda letter, text: text,
    "answer_colon": lambda letter, text: f"Answer: {letter}",
    "sentence": lambda letter, text: f"The answer is ({letter}) {text}.",
    "lower": lambda letter, text: letter.lower(),
}


def test_answer_parsing_covers_tempcompass_prediction_styles() -> None:
    bank = import_tempcompass(TEMPCOMPASS).head(300)
    raw = json.loads(TEMPCOMPASS.read_text())
    first = next(iter(raw.values()))["action"][0]
    assert first["answer"] == "A. dunking a basketball"  # TempCompass's own style
    options = ["dunking a basketball", "dribbling a basketball", "passing a basketball"]
    assert parse_choice(first["answer"], options) == "A"
    for q in bank.itertuples():
        options = list(q.options)
        text = options[ord(q.answer) - 65]
        for style, make in TEMPCOMPASS_STYLES.items():
            if style == "text" and sum(text.lower() in o.lower() for o in options) > 1:
                continue  # an option inside another ("left" / "to the left") is not the option text alone
            assert parse_choice(make(q.answer, text), options) == q.answer, (style, make(q.answer, text), options)
    options = ["left", "right", "up", "down"]
    for abstain in ("unknown", "none", "None.", "N/A", "Answer: unknown", "", "I cannot tell"):
        assert parse_choice(abstain, options) == "unknown", abstain
    for noise in ("E", "(F)", "sideways", "left or right", "A. right"):  # no option, two, a contradiction
        assert parse_choice(noise, options) == "unknown", noise
    assert parse_choice("A man moves right", options) == "B"  # "A" the article, not option A


def test_outside_captions_from_the_cli_scored_by_hand(
    home: dict, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    bank = tmp_path / "bank.jsonl"
    rows = _bank_rows("clip25") + [
        {"question_id": "o/0", "video_id": "other", "question": "Which animal is shown?",
         "options": ["a cat", "a dog"], "answer": "B", "dimension": "action recognition", "difficulty": "easy"},
    ]  # fmt: skip
    bank.write_text("".join(json.dumps({"source": "t", **r}) + "\n" for r in rows))
    captions = tmp_path / "captions.jsonl"
    # clip25 by our own id (the bank's "clip25" is matched by the id rule), "other" exactly.
    captions.write_text(
        json.dumps({"video_id": home["ids"]["clip25"], "caption": "green"})
        + "\n"
        + json.dumps({"video_id": "other", "caption": "   "})
        + "\n"
    )
    env = {**os.environ, "CODECVDC_HOME": str(tmp_path / "h"), "CODECVDC_PROJECT_DIR": str(PROJECT)}
    env.pop("DAGSTER_HOME", None)
    answers = tmp_path / "answers.jsonl"
    run = [*CLI, "vidcapqa", "answer", "--bank", str(bank), "--captions", str(captions), "--source", "mine"]
    proc = subprocess.run([*run, "-o", str(answers)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = {r["question_id"]: r for r in map(json.loads, answers.read_text().splitlines())}
    assert set(got) == {"t/0", "t/1", "t/2", "o/0"} and {r["source"] for r in got.values()} == {"mine:caption"}
    assert got["t/2"]["answer"] == "C" and got["t/2"]["correct"]  # "green" is t/2's correct option text
    assert got["o/0"]["answer"] == "unknown"  # an empty caption
    from codecvdc_assets.cli import main

    monkeypatch.setenv("CODECVDC_HOME", str(tmp_path / "h"))
    capsys.readouterr()
    assert main(["vidcapqa", "score", "--bank", str(bank), "--answers", str(answers), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)["mine:caption"]
    right = sum(r["correct"] for r in got.values())
    unknown = sum(r["answer"] == "unknown" for r in got.values())
    assert (scores["n"], scores["accuracy"], scores["no_evidence_rate"]) == (4, right / 4, unknown / 4)
    assert right == 1 and scores["per_difficulty"]["hard"]["accuracy"] == 1.0
    # A broken captions file is one clear line, exit 2.
    captions.write_text('{"caption": "x"}\n')
    assert main([*run[len(CLI) :], "-o", str(answers)]) == 2
    assert "captions.jsonl:1: a row needs video_id and caption" in capsys.readouterr().err


def test_profile_outside_captions_reach_scores_pairs_and_sql(home: dict) -> None:
    video = home["ids"]["clip25"]
    answers = sql(home["home"], f"select * from vidcapqa_answers where video_id = '{video}'")
    outside = answers[answers["source"] == "outside:caption"].set_index("question_id")
    assert outside.loc["t/0", "answer"] == "B" and bool(outside.loc["t/0", "correct"])
    assert set(answers["source"]) == {"outside:caption", "longcaption:video"}  # what the fixture materialized
    scores = sql(home["home"], "select * from vidcapqa_scores where \"group\" = 'overall'").set_index("source")
    expected = answers.groupby("source")["correct"].mean()
    for source, accuracy in expected.items():
        assert scores.loc[source, "accuracy"] == pytest.approx(accuracy)
    assert scores.loc["longcaption:video", "tokens_per_minute"] > 0
    assert pd.isna(scores.loc["outside:caption", "tokens_per_minute"])  # tokens of an outside captioner: unknown
    pairs = sql(home["home"], "select * from vidcapqa_pairs")
    row = pairs[(pairs["source_a"] == "longcaption:video") & (pairs["source_b"] == "outside:caption")]
    assert set(row["group"]) == {"overall", "dimension", "difficulty"}
    overall = row[row["group"] == "overall"].iloc[0]
    a = answers[answers["source"] == "longcaption:video"].set_index("question_id")["correct"]
    b = outside["correct"].reindex(a.index)
    assert overall["difference"] == pytest.approx(a.mean() - b.mean())
    assert overall["a_only"] == int((a & ~b).sum()) and overall["b_only"] == int((~a & b).sum())
    statements = [s for s in (PROJECT / "sql" / "vidcapqa.sql").read_text().split(";") if s.strip()]
    con = connect(home["home"])
    try:
        tables = [con.execute(s).fetchdf() for s in statements]
    finally:
        con.close()
    assert "longcaption" in tables[0].columns and "outside:caption" in set(tables[1]["source"])
    assert len(tables[2]) == len(pairs)


# ------------------------------------------------------------------ paired statistics


def test_mcnemar_and_paired_ci_on_a_hand_made_table() -> None:
    # 24 questions: both right 10, only a right 7, only b right 2, both wrong 5.
    a = np.array([1] * 10 + [1] * 7 + [0] * 2 + [0] * 5, dtype=bool)
    b = np.array([1] * 10 + [0] * 7 + [1] * 2 + [0] * 5, dtype=bool)
    assert mcnemar_exact(7, 2) == pytest.approx(binomtest(2, 9, 0.5).pvalue)  # 0.1796875
    assert mcnemar_exact(7, 2) == pytest.approx(2 * (1 + 9 + 36) / 512)
    assert mcnemar_exact(0, 0) == 1.0 and mcnemar_exact(3, 3) == 1.0
    assert mcnemar_exact(12, 0) == pytest.approx(binomtest(0, 12, 0.5).pvalue)
    low, high = paired_bootstrap_ci(a, b, seed=3, label="x", resamples=4000)
    # Independently: the same seeded draws, the difference of means per resample, percentiles.
    import hashlib

    stream = int.from_bytes(hashlib.sha256(b"3:pair:x").digest()[:8], "little")
    picks = np.random.default_rng(stream).integers(0, 24, size=(4000, 24))
    diffs = [a[p].mean() - b[p].mean() for p in picks]
    assert (low, high) == tuple(np.percentile(diffs, [2.5, 97.5]))
    assert low < 5 / 24 < high
    bank = validate_bank(
        pd.DataFrame(
            [
                {
                    "question_id": f"q{i}",
                    "video_id": "v",
                    "question": "?",
                    "options": ["x", "y"],
                    "answer": "A",
                    "dimension": "direction" if i < 12 else "speed",
                    "difficulty": "easy" if i % 2 else "hard",
                    "source": "t",
                }
                for i in range(24)
            ]  # fmt: skip
        )
    )
    judged = pd.concat(
        [
            pd.DataFrame({"question_id": bank["question_id"], "source": s, "correct": c})
            for s, c in (("a:x", a), ("b:x", b))
        ]
    ).merge(bank[["question_id", "dimension", "difficulty"]], on="question_id")
    table = pairs_table(judged, seed=3, resamples=1000)
    overall = table[table["group"] == "overall"].iloc[0]
    assert (overall["n"], overall["a_only"], overall["b_only"]) == (24, 7, 2)
    assert overall["difference"] == pytest.approx(5 / 24)
    assert overall["mcnemar_p"] == pytest.approx(binomtest(2, 9, 0.5).pvalue)
    direction = table[(table["group"] == "dimension") & (table["dimension"] == "direction")].iloc[0]
    assert (direction["n"], direction["a_only"], direction["b_only"]) == (12, 2, 0)  # q10, q11 are a-only
    assert set(table[table["group"] == "difficulty"]["dimension"]) == {"easy", "hard"}
    assert option_map(["x", "y"]) == {"A": "x", "B": "y"}
