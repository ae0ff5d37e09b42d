"""Dense-captioning metrics against YouCook2's validation annotations (../shared/dense/yc2_val.json).

One CocoSession (one tokenizer JVM per new batch of sentences, one METEOR JVM) serves the whole module.

Expected figures were printed by the official scripts run beside ours on the very same files (made by
tests/dense_helpers.py):
- ActivityNet: ranjaykrishna/densevid_eval `evaluate.py` at commit deba7d7 (May 2018), with only its
  Python 2 syntax ported (print, sets.Set, xrange), with pycocoevalcap 1.2, `-v`;
- SoccerNet-Caption: `SoccerNet.Evaluation.DenseVideoCaptioning.evaluate` (pip SoccerNet 0.1.62, pycocoevalcap
  1.2), `include_SODA=False`, on the same games under the test split's official game names.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import support.dense_helpers as h

from codecvdc_assets.cli import main
from codecvdc_assets.evaluation.dense.coco import CocoSession
from codecvdc_assets.evaluation.dense.inputs import DenseInputError, load_predictions, load_references
from codecvdc_assets.evaluation.dense.protocols import evaluate_activitynet, evaluate_soccernet, tiou
from codecvdc_assets.evaluation.dense.results import official_text, result_rows

# `evaluate.py -v` on h.subset(yc2, 40) vs h.perturbed(...): per tIoU 0.3, 0.5, 0.7, 0.9, then the average.
OFFICIAL_ACTIVITYNET = {
    "Bleu_1": [55.3251, 53.6217, 36.9228, 18.2749, 41.0361],
    "Bleu_2": [43.9186, 43.1920, 30.1452, 14.3224, 32.8945],
    "Bleu_3": [39.4415, 39.1417, 27.6102, 12.7875, 29.7452],
    "Bleu_4": [37.2687, 37.1219, 26.3813, 12.1165, 28.2221],
    "METEOR": [32.2946, 32.9045, 26.2454, 14.8571, 26.5754],
    "ROUGE_L": [44.9167, 43.4151, 30.1335, 15.4500, 33.4788],
    "CIDEr": [384.0235, 384.2120, 270.3556, 138.2145, 294.2014],
    "Recall": [61.4451, 57.3150, 38.8895, 19.9062, 44.3889],
    "Precision": [63.6113, 55.9247, 37.3332, 18.9345, 43.9509],
}
# The same with the references split over two files (h.split_references; the video with an empty prediction
# list left out, on which the official script can crash): "Average across all tIoUs".
OFFICIAL_TWO_FILES = {
    "Bleu_1": 35.1639,
    "Bleu_2": 28.6332,
    "Bleu_3": 26.0145,
    "Bleu_4": 24.7213,
    "METEOR": 23.9376,
    "ROUGE_L": 29.5826,
    "CIDEr": 255.6212,
    "Recall": 50.8802,
    "Precision": 29.0819,
}
# SoccerNet's evaluate() on h.write_soccernet(98 test games, yc2): "Average across all tIoUs" (tIoU 0, @30).
OFFICIAL_SOCCERNET = {
    "Bleu_1": 47.1244,
    "Bleu_2": 35.6000,
    "Bleu_3": 31.1440,
    "Bleu_4": 29.0495,
    "METEOR": 24.1028,
    "ROUGE_L": 38.8207,
    "CIDEr": 251.2535,
    "Recall": 93.1632,
    "Precision": 81.6349,
}
LANGUAGE = ["Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr"]


@pytest.fixture(scope="module")
def session():
    with CocoSession() as s:
        yield s


@pytest.fixture(scope="module")
def yc2() -> dict:
    return h.youcook2()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, yc2: dict) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("dense")
    refs = h.subset(yc2, 60, separate=True)
    made = {
        "refs": refs,
        "identity": h.as_predictions(refs),
        "shift10": h.as_predictions(refs, 0.1),
        "shift30": h.as_predictions(refs, 0.3),
        "shift60": h.as_predictions(refs, 0.6),
        "shuffled": h.as_predictions(refs, shuffle_seed=1),
        "official_refs": h.subset(yc2, 40),
        "official_preds": h.perturbed(h.subset(yc2, 40)),
    }
    for name, data in made.items():
        (root / f"{name}.json").write_text(json.dumps(data))
    return {name: root / f"{name}.json" for name in made}


@pytest.fixture(scope="module")
def results(files: dict[str, Path], session: CocoSession) -> dict:
    refs, _ = load_references(files["refs"])
    runs = ["identity", "shift10", "shift30", "shift60", "shuffled"]
    # One tokenizer call for every sentence of the module's ActivityNet runs.
    session.tokenize(e.sentence for name in runs for v in load_predictions(files[name]).values() for e in v)
    return {name: evaluate_activitynet(refs, load_predictions(files[name]), session) for name in runs}


def test_tiou_by_hand() -> None:
    assert tiou((0, 10), (5, 15)) == pytest.approx(1 / 3, abs=1e-8)
    assert tiou((0, 10), (10, 20)) == 0.0
    assert tiou((0, 10), (0, 10)) == pytest.approx(1.0, abs=1e-8)
    assert tiou((0, 10), (2, 4)) == pytest.approx(0.2, abs=1e-8)
    # Disjoint spans: the union is the sum of the lengths (the official formula), and the IoU is 0.
    assert tiou((0, 2), (8, 10)) == 0.0


def test_exact_match_by_hand(session: CocoSession) -> None:
    exact = session.score([("a man slices a red tomato on the board", "A man slices a red tomato on the board.")])
    for n in range(1, 5):
        assert exact[f"Bleu_{n}"] == pytest.approx(1.0, abs=1e-6)
    assert exact["ROUGE_L"] == pytest.approx(1.0)
    # CIDEr's document frequencies come from the video's own references: one pair gives idf = 0.
    assert exact["CIDEr"] == 0.0
    other = session.score([("a man slices a red tomato on the board", "pour the dressing over the salad")])
    assert other["METEOR"] < exact["METEOR"] and other["Bleu_1"] < 0.2


def test_identity_is_the_maximum_at_every_threshold(results: dict) -> None:
    best = results["identity"].values()
    for ti in range(4):
        assert best["Recall"][ti] == 1.0 and best["Precision"][ti] == 1.0
        assert best["Bleu_4"][ti] == pytest.approx(1.0, abs=1e-6)
        assert best["ROUGE_L"][ti] == pytest.approx(1.0)
        for other in ("shift10", "shift30", "shift60", "shuffled"):
            values = results[other].values()
            for m in [*LANGUAGE, "Recall", "Precision"]:
                assert values[m][ti] <= best[m][ti] + 1e-9, (other, m, ti)


def test_shifted_spans_lower_recall_in_order(results: dict) -> None:
    recall = [results[name].averages()["Recall"] for name in ("identity", "shift10", "shift30", "shift60")]
    assert recall == sorted(recall, reverse=True) and len(set(recall)) == 4, recall
    # tIoU of a span moved by s of its length is (1 - s) / (1 + s): 0.82, 0.54, 0.25.
    per_tiou = results["shift30"].values()["Recall"]
    assert per_tiou[0] > 0.95 and per_tiou[1] > 0.95 and per_tiou[2] < 0.1 and per_tiou[3] < 0.05


def test_shuffled_sentences_keep_recall_and_lower_language(results: dict) -> None:
    same, shuffled = results["identity"].values(), results["shuffled"].values()
    assert shuffled["Recall"] == same["Recall"] and shuffled["Precision"] == same["Precision"]
    for m in LANGUAGE:
        assert results["shuffled"].averages()[m] < 0.5 * results["identity"].averages()[m], m


def _printed(text: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for line in text.splitlines():
        if line.startswith("| "):
            name, value = line[2:].split(": ")
            out.setdefault(name, []).append(float(value))
    return out


def test_equals_the_official_activitynet_script(files: dict[str, Path], session: CocoSession) -> None:
    refs, _ = load_references(files["official_refs"])
    starts = session.java_starts
    result = evaluate_activitynet(refs, load_predictions(files["official_preds"]), session)
    # Java once per evaluation: one tokenizer call for its new sentences, METEOR already running.
    assert session.java_starts - starts == 1
    printed = _printed(official_text(result))
    assert {m: v for m, v in printed.items() if m in OFFICIAL_ACTIVITYNET} == OFFICIAL_ACTIVITYNET
    rows = result_rows(result, "predictions")
    mean = next(r for r in rows if r["metric"] == "METEOR" and r["threshold"] is None)
    assert mean["ci_low"] <= mean["value"] <= mean["ci_high"] and mean["n"] == 40


def test_two_reference_files_as_the_official_script(files: dict[str, Path], session: CocoSession) -> None:
    first, second = h.split_references(json.loads(files["official_refs"].read_text()))
    predictions = load_predictions(files["official_preds"])
    predictions = {v: p for v, p in predictions.items() if p}
    with_files = []
    for i, refs in enumerate((first, second)):
        path = files["official_refs"].with_name(f"split_{i}.json")
        path.write_text(json.dumps(refs))
        with_files.append(load_references(path)[0])
    result = evaluate_activitynet(with_files, predictions, session)
    printed = {m: v[-1] for m, v in _printed(official_text(result)).items()}
    assert printed == OFFICIAL_TWO_FILES and len(result.videos) == 40


def test_equals_the_official_soccernet_evaluation(tmp_path: Path, yc2: dict, session: CocoSession) -> None:
    games = [f"league/season/game {i:03d}" for i in range(98)]
    h.write_soccernet(tmp_path / "labels", tmp_path / "preds", games, yc2)
    refs, _ = load_references(tmp_path / "labels", single=True)
    preds = load_predictions(tmp_path / "preds", single=True)
    assert len(refs) == len(preds) == 196  # two halves per game; the "3 - ..." annotation is dropped
    result = evaluate_soccernet(refs, preds, session)
    printed = {m: v[0] for m, v in _printed(official_text(result)).items()}
    assert {m: v for m, v in printed.items() if m in OFFICIAL_SOCCERNET} == OFFICIAL_SOCCERNET
    averages = result.averages()
    p, r = averages["Precision"], averages["Recall"]
    assert averages["F1"] == pytest.approx(2 * p * r / (p + r))
    # A tolerance tighter than the window lowers spotting but not the language metrics @30.
    tight = evaluate_soccernet(refs, preds, session, tolerance=10)
    assert tight.averages()["Recall"] < r and tight.averages()["METEOR"] == averages["METEOR"]


def test_cli_prints_the_official_figures(files: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    code = main(
        [
            "evaluate",
            "dense",
            "--references",
            str(files["official_refs"]),
            "--predictions",
            str(files["official_preds"]),
        ]
    )
    assert code == 0
    printed = _printed(capsys.readouterr().out)
    assert {m: v for m, v in printed.items() if m in OFFICIAL_ACTIVITYNET} == OFFICIAL_ACTIVITYNET


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{not json", "not JSON"),
        ('{"v1": {"timestamps": [[0, 1]], "sentences": []}}', "same length"),
        ('{"v1": {"timestamps": [["a", 1]], "sentences": ["x"]}}', "not a finite number"),
        ('{"v1": {"timestamps": [], "sentences": []}}', "no events"),
    ],
)
def test_bad_references_are_one_line_exit_2(
    tmp_path: Path, files: dict[str, Path], capsys: pytest.CaptureFixture, content: str | None, message: str
) -> None:
    path = tmp_path / "refs.json"
    if content is not None:
        path.write_text(content)
    code = main(["evaluate", "dense", "--references", str(path), "--predictions", str(files["identity"])])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err and str(path) in err


def test_bad_predictions_name_the_video(tmp_path: Path, files: dict[str, Path]) -> None:
    path = tmp_path / "preds.json"
    path.write_text(json.dumps({"results": {"v_x": [{"sentence": "a", "timestamp": [0]}]}}))
    with pytest.raises(DenseInputError, match=r"video v_x, prediction 0: timestamp \[0\] is not \[start, end\]"):
        load_predictions(path)
    path.write_text(json.dumps({"v_x": []}))
    with pytest.raises(DenseInputError, match="results"):
        load_predictions(path)
