"""`codecvdc export` and the `dataset_export` asset on one materialized home (short generated clips and a
broken file), exported into every format and read back the way users read them: datasets.load_dataset
(offline), DuckDB, tarfile, ms-swift's JSONL rules."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import tarfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import duckdb
import jsonschema
import pandas as pd
import pytest
import yaml
from support.cli_helpers import CLI, SELECT_CHAIN, add, cli, env_for
from support.paths import PROJECT

from codecvdc_assets.cli import main
from codecvdc_assets.export.splits import assign_splits, quotas, shard_count
from codecvdc_assets.models.task_schemas import SCHEMAS
from codecvdc_assets.storage.catalog import connect
from codecvdc_assets.storage.failures import clear_failure, record_failure
from codecvdc_assets.storage.lake import Lake
from codecvdc_assets.video.synthetic import write_clip

TINY_SHARDS = ["--shard-mb", "0.0001"]  # one shard per hash bucket, so there are several to compare
TIME_COLUMNS = {
    "videos": ["duration_s"],
    "anchors": ["t_s"],
    "residuals": ["t_prev_s", "t_s"],
    "scene_narratives": ["start_s", "end_s"],
    "video_narratives": ["duration_s"],
}


class Home:
    def __init__(self, root: Path, project: Path, home: Path, ids: list[str], broken: str, out: Path) -> None:
        self.root, self.project, self.home, self.ids, self.broken, self.out = root, project, home, ids, broken, out

    def sql(self, query: str) -> list[dict]:
        """A query on the catalog (in this process: `codecvdc sql` is compared once, in the hf test)."""
        con = connect(self.home)
        try:
            return con.execute(query).fetchdf().to_dict("records")
        finally:
            con.close()


def codecvdc(*args: str) -> str:
    """`codecvdc ARGS` in this process (the module's environment names the home); returns stdout."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    assert code == 0, f"codecvdc {' '.join(args)} -> {code}\n{out.getvalue()}\n{err.getvalue()}"
    return out.getvalue()


def files_in(folder: Path, pattern: str) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob(pattern))
    }


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Home:
    root = tmp_path_factory.mktemp("export")
    project = root / "project"  # a copy whose prompt the incremental test edits, with an `export:` section
    for name in ("prompts", "sql", "resources"):
        shutil.copytree(PROJECT / name, project / name)
    profile = project / "resources" / "embedded.yaml"
    profile.write_text(profile.read_text() + "\nexport:\n  out: release\n  formats: [hf]\n")
    # The generated clips are near copies, so are their narratives (duplicate): this module tests the
    # formats on every row (tests/test_quality_pipeline.py tests leaving flagged rows out).
    profile.write_text(profile.read_text().replace("export_exclude_flagged: true", "export_exclude_flagged: false"))
    patch = pytest.MonkeyPatch()
    home = root / "home"
    home.mkdir()
    patch.setenv("CODECVDC_PROJECT_DIR", str(project))
    patch.setenv("CODECVDC_HOME", str(home))  # for the commands run in this process
    patch.setenv("DAGSTER_HOME", str(home / "dagster"))  # (they set it; undo restores it)
    patch.delenv("CODECVDC_PROFILE", raising=False)
    clips = [
        write_clip(str(root / "one.mp4"), 3.0, fps=10, width=128, height=96, cuts_s=(1.5,)),
        write_clip(str(root / "two.mp4"), 2.0, fps=10, width=128, height=96, seed=1),
        write_clip(str(root / "three.mp4"), 3.0, fps=10, width=128, height=96, cuts_s=(1.0,), seed=2),
        write_clip(str(root / "four.mp4"), 2.0, fps=10, width=128, height=96, seed=3),
    ]
    (root / "broken.mp4").write_bytes(b"not a video at all" * 100)
    try:
        ids = add(home, [*clips, str(root / "broken.mp4")])
        proc = subprocess.run(
            [*CLI, "run", *SELECT_CHAIN, "--select", "dataset_export"],
            env=env_for(home),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 1, proc.stdout + proc.stderr  # the broken file fails, the others go on
        assert "dataset-level (after the videos): dataset_export: ok" in proc.stdout, proc.stdout
        release = yaml.safe_load((home / "release" / "README.md").read_text().split("---")[1])  # the asset's
        assert [c["config_name"] for c in release["configs"]][:3] == ["videos", "anchors", "residuals"]
        out = root / "out"
        cli(["export", str(out), *TINY_SHARDS], home)  # hf (default)
        codecvdc("export", str(out), "--format", "webdataset", "--include-frames", *TINY_SHARDS)  # in process
        codecvdc("export", str(out), "--format", "swift", "--include-frames")
        yield Home(root, project, home, ids[:4], ids[4], out)
    finally:
        patch.undo()


def test_hf_loads_offline_with_datasets_and_duckdb(made: Home, tmp_path: Path, monkeypatch) -> None:
    for var, value in {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}.items():
        monkeypatch.setenv(var, value)
    import datasets

    videos = made.sql("select video_id, sha256 from videos order by video_id")
    sha_of = {r["video_id"]: r["sha256"] for r in videos}
    assert sorted(sha_of) == sorted(made.ids)  # the broken file never made a videos row
    front = yaml.safe_load(made.out.joinpath("README.md").read_text().split("---")[1])
    configs = {c["config_name"]: c for c in front["configs"]}
    assert list(configs) == ["videos", "anchors", "residuals", "scene_narratives", "video_narratives"]
    for config, spec in configs.items():
        loaded = datasets.load_dataset(str(made.out), config)
        assert set(loaded) == {f["split"] for f in spec["data_files"]}
        rows = pd.concat([loaded[s].to_pandas() for s in loaded], ignore_index=True)
        (count,) = made.sql(f"select count(*) as n from {config}")
        assert len(rows) == count["n"], config  # every video qualifies but the broken one (no rows anywhere)
        on_disk = duckdb.sql(f"select count(*) from read_parquet('{made.out}/{config}/*.parquet')").fetchall()[0][0]
        assert on_disk == len(rows)
        assert {"video_id", "sha256", "model", "version", *TIME_COLUMNS[config]} <= set(rows.columns)
        assert (rows["sha256"] == rows["video_id"].map(sha_of)).all()
        assert rows["version"].str.len().gt(0).all()
        for name in sorted(list(made.out.glob(f"{config}/*.parquet")))[:1]:
            assert name.name.split("-")[0] in {"train", "val", "test"} and "-of-" in name.name
    # A sample of values against `codecvdc sql` on the catalog: every residual, joined on its key.
    residuals = datasets.load_dataset(str(made.out), "residuals")
    got = pd.concat([residuals[s].to_pandas() for s in residuals]).set_index(["video_id", "segment_idx", "pair_idx"])
    query = "select video_id, segment_idx, pair_idx, t_s, delta_caption, change_type, model from residuals"
    want = pd.DataFrame(json.loads(cli(["sql", "--format", "json", query], made.home).stdout))
    assert len(want) == len(got) > 0
    want = want.set_index(["video_id", "segment_idx", "pair_idx"])
    joined = want.join(got, rsuffix="_hf", how="left")
    assert (joined["delta_caption"] == joined["delta_caption_hf"]).all()
    assert (joined["change_type"] == joined["change_type_hf"]).all() and (joined["t_s"] == joined["t_s_hf"]).all()
    assert (joined["model"] == joined["model_hf"]).all()


def test_card_statistics_and_provenance(made: Home) -> None:
    text = made.out.joinpath("README.md").read_text()
    (n,) = made.sql("select count(*) as n, sum(duration_s) / 3600 as h from videos")
    (res,) = made.sql(
        "select count(*) as n, avg(n_words) as w, avg(cast(change_type = 'none' as double)) as none from residuals"
    )
    (anc,) = made.sql("select avg(n_words) as w from anchors")
    assert f"| videos | {n['n']} |" in text and f"| hours | {n['h']:,.3f} |" in text
    assert f"| residuals per video | {res['n'] / n['n']:,.1f} |" in text
    assert f"| words per residual | {res['w']:,.1f} |" in text
    assert f"| share of `none` residuals | {res['none']:,.3f} |" in text
    assert f"| mean words per anchor | {anc['w']:,.1f} |" in text
    for rule in made.sql(
        "select rule, count(*) filter (where accepted) as a, count(*) filter (where not accepted) as r "
        "from evidence group by 1"
    ):
        assert f"| {rule['rule']} | {rule['a']:,} | {rule['r']:,} |" in text
    # The broken file is left out and counted, with the asset that fails for it.
    assert "- a current failure in an exported level or upstream of it: 1" in text
    assert "- failing now, by asset: videos 1" in text
    # Provenance: the models and versions of the rows, the prompt hash, the project version.
    model = made.sql("select distinct model from residuals")[0]["model"]
    version = made.sql("select distinct version from residuals")[0]["version"]
    assert f"| `residuals` | {model} | `{version}`" in text
    prompt = hashlib.sha256((made.project / "prompts" / "residual.md").read_bytes()).hexdigest()[:16]
    assert f"`prompts/residual.md` `{prompt}`" in text
    assert "by codecvdc 0.1.0" in text


def test_webdataset_shards_read_back_with_tarfile(made: Home) -> None:
    shards = sorted(made.out.glob("webdataset/*/shard-*.tar"))
    assert len(shards) >= 2
    seen = {}
    segments = {r["video_id"]: r["n"] for r in made.sql("select video_id, count(*) as n from segments group by 1")}
    anchors = made.sql("select video_id, segment_idx, frame_sha256 from anchors")
    for shard in shards:
        with tarfile.open(shard) as tar:
            members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
        for name, data in members.items():
            key, _, ext = name.partition(".")
            if ext != "json":
                assert ext.startswith("anchor_") and ext.endswith(".jpg") and data[:2] == b"\xff\xd8"
                continue
            doc = json.loads(data)
            assert doc["video_id"] == key and doc["split"] == shard.parent.name and len(doc["sha256"]) == 64
            assert len(doc["anchors"]) == segments[key] == len(doc["scene_narratives"])
            assert doc["video_narrative"]["narrative"] and doc["video_narrative"]["version"]
            for level in ("anchors", "residuals", "scene_narratives"):
                assert all(r["model"] and r["version"] for r in doc[level])
            assert all(r["t_s"] > r["t_prev_s"] for r in doc["residuals"])
            for anchor in doc["anchors"]:  # each keyframe is in the tar, byte for byte the stored frame
                jpg = members[anchor["frame"]]
                assert hashlib.sha256(jpg).hexdigest() == anchor["frame_sha256"]
            seen[key] = doc
    assert sorted(seen) == sorted(made.ids)
    assert {(a["video_id"], a["segment_idx"]) for a in anchors} == {
        (k, a["segment_idx"]) for k, d in seen.items() for a in d["anchors"]
    }


def test_swift_jsonl_lines(made: Home) -> None:
    validator = jsonschema.Draft202012Validator(SCHEMAS["residual"])
    lines = [json.loads(x) for x in (made.out / "swift" / "residual_windows.jsonl").read_text().splitlines()]
    (pairs,) = made.sql("select count(*) as n from residuals")
    assert sum(len(json.loads(r["messages"][2]["content"])["residuals"]) for r in lines) == pairs["n"]
    for row in lines:
        system, user, assistant = row["messages"]
        assert (system["role"], user["role"], assistant["role"]) == ("system", "user", "assistant")
        assert user["content"].count("<image>") == len(row["images"]) >= 2
        assert all(os.path.isfile(p) and str(made.out) in p for p in row["images"])  # the copies in OUT
        answer = json.loads(assistant["content"])
        validator.validate(answer)
        info = json.loads(user["content"].split("```json\n")[1].split("\n```")[0])
        assert [r["frame_pair"] for r in answer["residuals"]] == info["pairs"]
        assert row["video_id"] in made.ids and row["model"] and row["version"]
        assert row["t_end_s"] > row["t_start_s"] and len(row["sha256"]) == 64
    dense = [json.loads(x) for x in (made.out / "swift" / "dense_captions.jsonl").read_text().splitlines()]
    assert sorted(r["video_id"] for r in dense) == sorted(made.ids)
    for row in dense:
        user, assistant = row["messages"]
        assert user["content"].count("<video>") == len(row["videos"]) == 1 and os.path.isfile(row["videos"][0])
        assert assistant["content"].startswith("Video (") and "Scene 1 [" in assistant["content"]
        assert row["model"] and row["version"] and row["t_end_s"] > 0


def test_splits_follow_content_and_ratios() -> None:
    # The same content under two names: one split, whatever the names.
    shas = {f"clip_{i:03d}-{i:010x}": hashlib.sha256(str(i).encode()).hexdigest() for i in range(200)}
    shas["copy_of_clip_007-00000000ff"] = shas["clip_007-0000000007"]
    for shares in ({"train": 0.98, "val": 0.01, "test": 0.01}, {"train": 0.8, "val": 0.1, "test": 0.1}):
        split = assign_splits(shas, shares)
        assert split["copy_of_clip_007-00000000ff"] == split["clip_007-0000000007"]
        contents = {}
        for vid, name in split.items():
            contents.setdefault(shas[vid], set()).add(name)
        assert all(len(names) == 1 for names in contents.values())  # no content in two splits
        counts = pd.Series({s: list(split.values()).count(s) for s in shares})
        real = pd.Series({s: sum(1 for v, n in split.items() if n == s and not v.startswith("copy")) for s in shares})
        assert ((real - pd.Series(shares) * 200).abs() <= 1).all(), real.to_dict()
        assert counts.sum() == 201
        # Deterministic: the same contents in another order under other names give the same splits.
        items = list(shas.items())
        random.Random(1).shuffle(items)
        again = assign_splits({f"x{i}": sha for i, (_, sha) in enumerate(items)}, shares)
        assert [again[f"x{i}"] for i in range(len(items))] == [split[vid] for vid, _ in items]
    assert quotas(3, {"train": 0.98, "val": 0.01, "test": 0.01}) == {"train": 3, "val": 0, "test": 0}
    assert shard_count(10e9, 256e6, 100_000) == 64 and shard_count(1, 256e6, 10) == 1


def test_failures_leave_videos_out_of_their_levels(made: Home, tmp_path: Path) -> None:
    lake, video = Lake(made.home), made.ids[0]
    record_failure(lake, video, "residuals", RuntimeError("the endpoint timed out"), None)
    try:
        codecvdc("export", str(tmp_path / "all"), "--format", "hf")
        codecvdc("export", str(tmp_path / "anchors"), "--levels", "anchors")
    finally:
        clear_failure(lake, video, "residuals")
    exported = duckdb.sql(f"select distinct video_id from read_parquet('{tmp_path}/all/videos/*.parquet')").fetchall()
    assert sorted(v for (v,) in exported) == sorted(made.ids[1:])
    card = (tmp_path / "all" / "README.md").read_text()
    assert "- a current failure in an exported level or upstream of it: 2" in card and "residuals 1" in card
    only = duckdb.sql(f"select distinct video_id from read_parquet('{tmp_path}/anchors/anchors/*.parquet')").fetchall()
    assert sorted(v for (v,) in only) == sorted(made.ids)  # residuals not exported: the video stays
    assert not (tmp_path / "anchors" / "residuals").exists()


@pytest.mark.parametrize(
    "case", ["unknown-level", "unknown-format", "bad-splits", "out-is-file", "foreign-files", "unknown-video"]
)
def test_bad_input_is_one_line_exit_2_nothing_written(made: Home, tmp_path: Path, case: str) -> None:
    out, args = tmp_path / "out", []
    if case == "unknown-level":
        args = ["--levels", "anchors,captions"]
    elif case == "unknown-format":
        args = ["--format", "coco"]
    elif case == "bad-splits":
        args = ["--splits", "train=0.9,val=0.2"]
    elif case == "out-is-file":
        out.write_text("a file")
    elif case == "foreign-files":
        out.mkdir()
        (out / "notes.txt").write_text("mine")
    elif case == "unknown-video":
        args = ["--video", "nosuch-0123456789"]
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    proc = subprocess.run(
        [*CLI, "export", str(out), *args], env=env_for(made.home), capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if not line.strip().startswith(("/", "spec ="))]
    assert len(lines) == 1 and lines[0].startswith("codecvdc: error: "), proc.stderr
    assert {"unknown-level": "captions", "unknown-format": "coco", "bad-splits": "sum to 1.1"}.get(case, "") in lines[0]
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing written


def test_reexport_rewrites_only_the_changed_videos_shards(made: Home) -> None:
    """Last in this module: it changes the home (a prompt edit and one video's residuals re-run)."""
    status = json.loads(codecvdc("status", "--json"))
    assert status["dataset"]["dataset_export"] == "fresh"
    hf_before = files_in(made.out, "*/*.parquet")
    wds_before = files_in(made.out, "webdataset/*/*.tar")
    mtimes = {p: (made.out / p).stat().st_mtime_ns for p in [*hf_before, *wds_before]}
    # The same export again: no shard changes.
    codecvdc("export", str(made.out), *TINY_SHARDS)
    assert files_in(made.out, "*/*.parquet") == hf_before
    prompt = made.project / "prompts" / "residual.md"
    prompt.write_text(prompt.read_text() + "\nKeep each delta_caption under twenty words.\n")
    video = made.ids[1]
    chain = ["--select", "residuals", "--select", "evidence", "--select", "scene_narratives"]
    codecvdc("run", "--video", video, *chain, "--select", "video_narratives")
    status = json.loads(codecvdc("status", "--json"))
    assert status["dataset"]["dataset_export"] == "stale"  # captions changed under the release
    codecvdc("export", str(made.out), *TINY_SHARDS)
    codecvdc("export", str(made.out), "--format", "webdataset", "--include-frames", *TINY_SHARDS)
    hf_after = files_in(made.out, "*/*.parquet")
    wds_after = files_in(made.out, "webdataset/*/*.tar")
    assert set(hf_after) == set(hf_before) and set(wds_after) == set(wds_before)
    holding = {  # the shards that hold the re-run video
        p
        for p in hf_after
        if duckdb.sql(f"select count(*) from read_parquet('{made.out / p}') where video_id = '{video}'").fetchall()[0][
            0
        ]
    }
    changed = {p for p in hf_after if hf_after[p] != hf_before[p]}
    # Its residuals changed (their version: the prompt). Its scene and video narratives were re-run too, but
    # their rows came out the same (their versions do not hash the residual prompt): those shards stay.
    assert changed == {p for p in holding if p.startswith("residuals/")} and len(changed) == 1
    assert len(hf_after) > len(changed)
    wds_changed = {p for p in wds_after if wds_after[p] != wds_before[p]}
    with_video = set()
    for p in wds_after:
        with tarfile.open(made.out / p) as tar:
            if f"{video}.json" in tar.getnames():
                with_video.add(p)
    assert wds_changed == with_video and len(wds_after) > 1
    for p in set(hf_after) - changed | set(wds_after) - wds_changed:
        assert (made.out / p).stat().st_mtime_ns == mtimes[p]  # untouched, not rewritten with equal bytes
