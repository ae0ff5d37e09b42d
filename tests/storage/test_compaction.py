"""Lake compaction (storage/compaction.py): per-video files folded into buckets, read back exactly.

Tables are written through Lake.write (pandera-validated, as the assets write them); the catalog views
and sql/caption_stats.sql are the real ones.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from codecvdc_assets.cli import main as cli_main
from codecvdc_assets.defs.compaction import lake_compaction
from codecvdc_assets.defs.resources import LakeResource
from codecvdc_assets.models.calls import write_model_calls
from codecvdc_assets.schemas import empty_frame
from codecvdc_assets.settings import project_dir
from codecvdc_assets.storage import compaction
from codecvdc_assets.storage import lake as lake_module
from codecvdc_assets.storage.catalog import connect
from codecvdc_assets.storage.lake import Lake

STATS = project_dir() / "sql" / "caption_stats.sql"
CHANGES = ["none", "continuous", "discrete", "camera", "attribute"]


def vid(i: int) -> str:
    return f"clip{i:02d}-{hashlib.sha256(str(i).encode()).hexdigest()[:10]}"


def videos_row(video_id: str, duration: float) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "video_id": video_id,
                "path": f"/videos/{video_id}.mp4",
                "sha256": hashlib.sha256(video_id.encode()).hexdigest(),
                "size_bytes": 1000,
                "container": "mp4",
                "codec": "h264",
                "width": 320,
                "height": 240,
                "fps": 25.0,
                "duration_s": duration,
                "start_offset_s": 0.0,
                "rotation": 0,
                "timestamps_synthesized": False,
                "n_packets": int(duration * 25),
                "has_audio": False,
                "audio_codec": None,
                "n_iframes": 2,
                "gop_mean_s": 2.0,
                "gop_cv": 0.3,
                "keyframe_ratio": 0.04,
                "seg_mode": "iframe-primary",
                "mode_reason": "GOP CV >= tau_gop",
            }
        ]
    )


def residuals(video_id: str, n: int, word: str = "ball") -> pd.DataFrame:
    rows = []
    for k in range(n):
        change = CHANGES[(k + len(video_id)) % len(CHANGES)]
        caption = "No visible change." if change == "none" else f"The red {word} {k} moves left."
        rows.append(
            {
                "video_id": video_id,
                "segment_idx": k // 4,
                "pair_idx": k % 4,
                "t_prev_s": float(k),
                "t_s": float(k + 1),
                "delta_caption": caption,
                "change_type": change,
                "subject": "" if change == "none" else f"red {word}",
                "zone_from": "",
                "zone_to": "",
                "direction": "left" if change == "continuous" else "",
                "n_words": len(caption.split()),
                "model": "embedded",
                "version": "v1",
            }
        )
    return pd.DataFrame(rows) if rows else empty_frame("residuals")


def write_video(lake: Lake, i: int, n_residuals: int | None = None, word: str = "ball") -> str:
    from codecvdc_assets.models.types import CallRecord

    video_id = vid(i)
    n = n_residuals if n_residuals is not None else 3 + i % 5
    lake.write("videos", video_id, videos_row(video_id, float(n + 1)))
    lake.write("residuals", video_id, residuals(video_id, n, word))
    fields = {
        "task": "residual",
        "backend": "embedded",
        "model": "embedded",
        "endpoint": "local",
        "prompt_tokens": 100,
        "latency_s": 0.1,
        "status": "ok",
        "cache_hit": False,
        "cache_key": "k",
        "error": None,
        "attempt": 1,
    }
    calls = [CallRecord(video_id=video_id, asset="residuals", completion_tokens=10 + i, **fields)]
    write_model_calls(lake, calls, run_id=f"run-{i}-{word}")
    return video_id


def everything(home: Path) -> list:
    """Every statement of sql/caption_stats.sql and the full residuals/model_calls views, in a fixed order."""
    con = connect(home)
    try:
        out = [con.execute(s.query).fetchall() for s in con.extract_statements(STATS.read_text())]
        out.append(con.execute("SELECT * FROM residuals ORDER BY video_id, segment_idx, pair_idx").fetchall())
        out.append(con.execute("SELECT video_id, completion_tokens, run_id FROM model_calls ORDER BY ALL").fetchall())
        out.append(con.execute("SELECT * FROM videos ORDER BY video_id").fetchall())
    finally:
        con.close()
    return out


def same(a: list, b: list) -> None:
    """Equal results; sums of floats compared with a tolerance (summation order may differ)."""
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert len(x) == len(y)
        for rx, ry in zip(x, y, strict=True):
            assert rx == pytest.approx(ry) if all(isinstance(v, float) for v in (*rx, *ry) if v) else rx == ry


def loose_files(lake: Lake, table: str) -> list[Path]:
    return sorted(lake.table_dir(table).glob("video_id=*/*.parquet"))


def test_queries_and_reads_unchanged_by_compaction(home: Path) -> None:
    lake = Lake(home)
    ids = [write_video(lake, i) for i in range(12)]
    before = everything(home)
    single = {v: lake.read("residuals", v) for v in ids}
    all_before = lake.read_all("residuals").sort_values(["video_id", "t_s"]).reset_index(drop=True)

    results = {r.table: r for r in compaction.compact(lake.root)}
    assert results["residuals"].files == 12 and results["residuals"].retired == 12
    assert results["model_calls"].files == 12
    assert loose_files(lake, "residuals") == [] and loose_files(lake, "model_calls") == []
    assert not list(lake.table_dir("residuals").glob("video_id=*")), "emptied video folders are removed"
    assert len(list(lake.table_dir("residuals").glob("_compacted/bucket=*/data.parquet"))) <= lake_module.BUCKETS

    same(everything(home), before)
    assert before[-3], "the residuals view had rows"
    for v in ids:
        assert lake.exists("residuals", v)
        pd.testing.assert_frame_equal(lake.read("residuals", v), single[v], check_dtype=False)
    all_after = lake.read_all("residuals").sort_values(["video_id", "t_s"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(all_after, all_before, check_dtype=False)
    assert not lake.exists("residuals", vid(99))
    with pytest.raises(FileNotFoundError):
        lake.read("residuals", vid(99))


def test_rematerialized_video_shows_only_its_new_rows(home: Path) -> None:
    lake = Lake(home)
    for i in range(6):
        write_video(lake, i, n_residuals=8)
    compaction.compact(lake.root)
    target = vid(3)
    # Re-materialized after compaction: fewer rows, new words; then with zero rows.
    write_video(lake, 3, n_residuals=2, word="kite")
    con = connect(home)
    try:
        rows = con.execute("SELECT delta_caption FROM residuals WHERE video_id = ?", [target]).fetchall()
        calls = con.execute("SELECT run_id FROM model_calls WHERE video_id = ? ORDER BY 1", [target]).fetchall()
    finally:
        con.close()
    assert len(rows) == 2 and not any("ball" in r[0] for r in rows)
    assert calls == [("run-3-ball",), ("run-3-kite",)], "model_calls is append-only: both runs stay"
    assert len(lake.read("residuals", target)) == 2

    compaction.compact(lake.root)  # folds the new file in, replacing the old rows
    lake.write("residuals", target, residuals(target, 0))
    assert len(lake.read("residuals", target)) == 0
    compaction.compact(lake.root)
    assert lake.exists("residuals", target) and len(lake.read("residuals", target)) == 0
    con = connect(home)
    try:
        counts = dict(con.execute("SELECT video_id, count(*) FROM residuals GROUP BY 1").fetchall())
        calls = con.execute("SELECT count(*) FROM model_calls WHERE video_id = ?", [target]).fetchone()[0]
    finally:
        con.close()
    assert target not in counts and counts == {vid(i): 8 for i in range(6) if i != 3}
    assert calls == 2


def test_writer_replacing_a_file_during_compaction_keeps_its_file(home: Path, monkeypatch) -> None:
    lake = Lake(home)
    for i in range(4):
        write_video(lake, i, n_residuals=4)
    target = vid(2)
    rewrite = compaction._rewrite_bucket

    def rewrite_then_write(con, table_dir, bucket, files):
        rewrite(con, table_dir, bucket, files)  # the bucket now holds the old rows of `target`...
        if table_dir.name == "residuals" and any(target in source for source, *_ in files):
            lake.write("residuals", target, residuals(target, 1, word="newer"))  # ...and a writer replaces it

    monkeypatch.setattr(compaction, "_rewrite_bucket", rewrite_then_write)
    result = compaction.compact_table(lake.table_dir("residuals"))
    assert result.files == 4 and result.retired == 3
    assert lake.path("residuals", target).exists(), "the newer file was kept"
    assert list(lake.read("residuals", target)["delta_caption"]) == ["The red newer 0 moves left."]
    con = connect(home)
    try:
        rows = con.execute("SELECT delta_caption FROM residuals WHERE video_id = ?", [target]).fetchall()
    finally:
        con.close()
    assert rows == [("The red newer 0 moves left.",)]


def test_concurrent_writer_and_compactions(home: Path) -> None:
    """A writer rewrites videos while compactions run; afterwards every video shows its last write only."""
    lake = Lake(home)
    for i in range(8):
        write_video(lake, i, n_residuals=3)
    last: dict[str, int] = {}
    stop = threading.Event()

    def writer() -> None:
        for round_ in range(40):
            i = round_ % 8
            lake.write("residuals", vid(i), residuals(vid(i), 1 + round_ % 5, word=f"w{round_}"))
            last[vid(i)] = round_

    thread = threading.Thread(target=writer)
    thread.start()
    compactions = 0
    while thread.is_alive() or compactions < 2:
        compaction.compact_table(lake.table_dir("residuals"))
        compactions += 1
        if compactions > 200:
            break
    thread.join()
    stop.set()
    con = connect(home)
    try:
        for video_id, round_ in last.items():
            captions = {
                r[0]
                for r in con.execute("SELECT delta_caption FROM residuals WHERE video_id = ?", [video_id]).fetchall()
            }
            expected = set(residuals(video_id, 1 + round_ % 5, word=f"w{round_}")["delta_caption"])
            assert captions == expected, video_id
    finally:
        con.close()
    assert not list(lake.table_dir("residuals").glob("video_id=*/*.compacted"))


def test_interrupted_retire_is_undone(home: Path) -> None:
    lake = Lake(home)
    video_id = write_video(lake, 1)
    path = lake.path("residuals", video_id)
    path.rename(path.with_name(path.name + ".compacted"))  # as if a compaction died between its two steps
    compaction.compact_table(lake.table_dir("residuals"))
    assert len(lake.read("residuals", video_id)) == 4
    assert not list(lake.table_dir("residuals").glob("video_id=*/*.compacted"))


def test_failures_are_not_compacted(home: Path) -> None:
    with pytest.raises(ValueError, match="failures"):
        compaction.compact(Lake(home).root, ["failures"])


def test_compaction_job_and_cli(home: Path, capsys) -> None:
    lake = Lake(home)
    for i in range(3):
        write_video(lake, i)
    result = lake_compaction.execute_in_process(resources={"lake": LakeResource(home=str(home))})
    assert result.success and result.output_for_node("compact_lake") == 9  # 3 videos x 3 tables
    assert loose_files(lake, "residuals") == []
    write_video(lake, 5)
    assert cli_main(["compact", "--table", "residuals"]) == 0
    assert "residuals: 1 files into 1 buckets, 1 retired" in capsys.readouterr().out
    assert cli_main(["compact", "--table", "failures"]) == 2


def test_compacted_bucket_is_plain_parquet(home: Path) -> None:
    """The buckets are ordinary Parquet with a `_file` column: any tool can read them."""
    lake = Lake(home)
    write_video(lake, 4)
    compaction.compact(lake.root, ["residuals"])
    files = lake_module.compacted_sources(lake.table_dir("residuals"))
    assert files == [f"video_id={vid(4)}/data.parquet"]
    glob = str(lake.table_dir("residuals") / "_compacted" / "bucket=*" / "data.parquet")
    got = duckdb.sql(f"SELECT DISTINCT _file FROM read_parquet('{glob}')").fetchall()
    assert got == [(files[0],)]
