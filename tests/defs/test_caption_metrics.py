"""Caption metrics in the platform, driven as users drive it: clips named after YouCook2 videos go through the
real caption chain (`codecvdc run`, embedded models), the `caption_metrics` asset scores every source against
the profile's references, and `codecvdc evaluate ... --from-lake`, `codecvdc sql` and `codecvdc report` read it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import support.dense_helpers as h
from support.cli_helpers import add, cli
from support.paths import PROJECT

from codecvdc_assets.cli import main
from codecvdc_assets.video.synthetic import write_clip

SELECT = [
    a
    for name in (
        "videos",
        "segments",
        "anchors",
        "residuals",
        "evidence",
        "scene_narratives",
        "video_narratives",
        "direct_captions",
        "per_second_captions",
        "caption_metrics",
    )
    for a in ("--select", name)
]


def _run(capsys: pytest.CaptureFixture, *args: str) -> str:
    """`codecvdc ARGS` in this process (the home and project are in the environment), its stdout."""
    capsys.readouterr()
    code = main(list(args))
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


def _sql(capsys: pytest.CaptureFixture, query: str) -> list[dict]:
    return json.loads(_run(capsys, "sql", query, "--format", "json"))


@pytest.mark.slow
def test_caption_metrics_from_the_lake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    yc2 = h.youcook2()
    ids = sorted(yc2)[:3]
    references = tmp_path / "refs.json"
    references.write_text(json.dumps({v: yc2[v] for v in ids}))  # the third has no clip: it scores 0
    project = tmp_path / "project"
    for folder in ("prompts", "sql", "resources"):
        shutil.copytree(PROJECT / folder, project / folder)
    (project / "resources" / "metrics.yaml").write_text(
        f"extends: embedded\ncaption_metrics:\n  dense_references: {references}\n  long_references: {references}\n"
        "  resamples: 1000\n"
    )
    clips = [
        write_clip(str(tmp_path / f"{ids[0]}.mp4"), 6.0, fps=10, width=160, height=120, cuts_s=(3.0,)),
        write_clip(str(tmp_path / f"{ids[1]}.mp4"), 5.0, fps=10, width=160, height=120, cuts_s=(2.0,), seed=3),
    ]
    home = tmp_path / "home"
    env = {"CODECVDC_PROJECT_DIR": str(project)}  # the profile goes by --profile (cli() clears CODECVDC_PROFILE)
    ours = add(home, clips)
    cli(["run", "--profile", "metrics", *SELECT], home, **env)  # Dagster, as a user runs it
    # The reading commands run in this process (no interpreter start each).
    monkeypatch.setenv("CODECVDC_HOME", str(home))
    monkeypatch.setenv("CODECVDC_PROJECT_DIR", str(project))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("CODECVDC_PROFILE", "metrics")  # main() sets it again from --profile; undone after

    rows = _sql(capsys, "select * from caption_metrics")
    dense = [r for r in rows if r["protocol"] == "activitynet"]
    assert {r["source"] for r in dense} == {"codeccap:evidence", "codeccap:scene", "per_second"}
    assert all(r["n"] == 3 for r in dense)  # every reference video counts, matched or not
    assert {r["threshold"] for r in dense} == {0.3, 0.5, 0.7, 0.9, None}
    assert all(0 <= r["value"] <= 10 and r["ci_low"] <= r["value"] + 1e-12 <= r["ci_high"] + 2e-12 for r in dense)
    long = [r for r in rows if r["protocol"] == "longcaption" and r["subset"] == "overall"]
    assert {r["source"] for r in long} == {
        "codeccap:stream",
        "codeccap:scene",
        "codeccap:video",
        "codeccap:all",
        "direct:caption",
        "per_second:caption",
    }
    assert all(r["n"] == 2 for r in long)  # the two videos we have
    judged = _sql(capsys, "select count(*) as n from model_calls where asset = 'caption_metrics'")
    assert judged[0]["n"] == 2 * 2 * 6  # quality + relevance, per video and source
    assert "s_l" in _run(capsys, "sql", "-f", str(project / "sql" / "caption_metrics.sql"))

    # The CLI on the same lake gives the asset's figures; predictions are keyed by the reference ids.
    saved = tmp_path / "pred.json"
    dense_args = ["--references", str(references), "--from-lake", "per_second", "--save-predictions", str(saved)]
    out = _run(capsys, "evaluate", "dense", *dense_args, "--json", "--profile", "metrics")
    summary = json.loads(out)["per_second"]
    assert summary["videos"] == 3 and summary["videos_with_predictions"] == 2
    asset_mean = {r["metric"]: r["value"] for r in dense if r["source"] == "per_second" and r["threshold"] is None}
    assert summary["average"]["METEOR"] == pytest.approx(asset_mean["METEOR"])
    assert summary["average"]["Recall"] == pytest.approx(asset_mean["Recall"])
    predictions = json.loads(saved.read_text())["results"]
    assert set(predictions) == set(ids[:2]) and all(len(p) >= 5 for p in predictions.values())
    assert ours[0].startswith(ids[0].lower()) and predictions[ids[0]][0]["timestamp"] == [0.0, 1.0]

    long_args = ["--references", str(references), "--from-lake", "all", "--json", "--profile", "metrics"]
    long_out = json.loads(_run(capsys, "evaluate", "long", *long_args))
    s_l = {(r["source"], r["subset"]): r["value"] for r in long_out["rows"] if r["metric"] == "S_l"}
    assert s_l[("codeccap:video", "overall")] == pytest.approx(
        next(r["value"] for r in long if r["source"] == "codeccap:video" and r["metric"] == "S_l")
    )

    report = tmp_path / "report.html"
    _run(capsys, "report", "-o", str(report))
    page = report.read_text()
    assert 'id="metrics-activitynet"' in page and 'id="metrics-longcaption"' in page and "per_second" in page
