"""Orchestration overhead: N short generated videos through Dagster (batched runs, the real
`materialize_many` path with the default batch size) vs the same pure functions in a plain loop.

The loop does what the asset shells and checks do besides Dagster's part: the quality-gated clients, the
caption_quality and chapter_narratives writes, the GX suites of the blocking checks and the reads of the
caption-quality checks. Both use the
embedded backend, each its own CODECVDC_HOME (so each makes the same model calls, no cache
shared), assets `videos` .. `video_narratives`. Target: Dagster adds <= 25 %.

Instance storage: the same Dagster runs on a real PostgreSQL server (resources/dagster-postgres.yaml;
tests/support/services.py starts it on loopback), interleaved with SQLite rounds on the same clips; on fewer
videos (BENCH_ORCH_PG_VIDEOS, default 50: three variants a round would triple the suite's time).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from . import report

SUITE = "3 orchestration"
ASSETS = ["videos", "segments", "frames", "anchors", "residuals", "evidence", "scene_narratives", "video_narratives"]


def make_clips(folder: Path, n: int) -> list[str]:
    from codecvdc_assets.video.synthetic import write_clip

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"short_{i:04d}.mp4"
        if not path.exists():
            write_clip(str(path), 2.0 + (i % 3) * 0.5, fps=10, width=160, height=120, cuts_s=[1.0], seed=i)
        paths.append(str(path))
    return paths


def _home(root: Path, paths: list[str]):
    from codecvdc_assets.definitions import build_definitions
    from codecvdc_assets.runs.instance import add_partitions, get_instance
    from codecvdc_assets.settings import dagster_home
    from codecvdc_assets.storage.registry import Registry

    root.mkdir(parents=True)
    os.environ["CODECVDC_HOME"] = str(root)
    dagster_home(root)
    registry = Registry(root)
    ids = [registry.register(p)[0].video_id for p in paths]
    instance = get_instance()
    add_partitions(instance, ids)
    return build_definitions(home=str(root)), instance, ids


def run_dagster(root: Path, paths: list[str], instance_yaml: str | None = None, batch_size: int | None = None) -> float:
    """`instance_yaml`: the Dagster instance settings (default resources/dagster.yaml: SQLite);
    `batch_size`: as `codecvdc run --batch-size` (default: the CLI's, from the profile)."""
    from codecvdc_assets.runs.batching import run_batching
    from codecvdc_assets.runs.execute import materialize_many
    from codecvdc_assets.runs.selection import expand_selection
    from codecvdc_assets.settings import load_profile
    from codecvdc_assets.storage.lake import Lake

    os.environ.pop("CODECVDC_DAGSTER_YAML", None)
    if instance_yaml:
        os.environ["CODECVDC_DAGSTER_YAML"] = instance_yaml
    defs, instance, ids = _home(root, paths)
    keys = expand_selection(defs, ASSETS)
    batching = run_batching(defs.resources["lake"].registry(), load_profile().get("automation") or {}, batch_size)
    start = time.perf_counter()
    plan = {v: keys for v in ids}
    outcomes = materialize_many(
        defs,
        instance,
        plan,
        Lake(root),
        batch_size=batching.batch_size,
        sizes=batching.sizes,
        batch_bytes=batching.batch_bytes,
    )
    elapsed = time.perf_counter() - start
    failed = [o for o in outcomes if not o.ok]
    if failed:
        raise RuntimeError(f"dagster run failed for {len(failed)} videos: {failed[0].error}")
    return elapsed


def _batching() -> str:
    from codecvdc_assets.runs.batching import SMALL_BATCH_FACTOR
    from codecvdc_assets.settings import load_profile

    automation = load_profile().get("automation") or {}
    size, mib = int(automation.get("batch_size", 25)), automation.get("batch_mib")
    small = f", up to {SMALL_BATCH_FACTOR * size} files totalling <= {mib} MiB" if mib else ""
    return f"the CLI's batched runs ({size} videos a run{small})"


def run_check(asset: str, lake, video_id: str, cap) -> None:
    """The GX suite that the asset's blocking check runs (checks/captions.py), on the same tables."""
    from codecvdc_assets.defs.checks import expectations as ex

    if asset == "anchors":
        bounds = (cap.anchor_words_min, cap.anchor_words_max)
        exp = ex.anchor_expectations(lake.read("segments", video_id), *bounds)
        outcome = ex.validate(lake.read("anchors", video_id), exp, asset)
    elif asset == "residuals":
        table = ex.residuals_with_segments(lake.read("residuals", video_id), lake.read("segments", video_id))
        exp = ex.residual_expectations(cap.residual_words_min, cap.residual_words_max)
        outcome = ex.validate(table, exp, asset)
    elif asset in ("scene_narratives", "video_narratives"):
        outcome = ex.validate(lake.read(asset, video_id), ex.narrative_expectations(), asset)
    else:
        return
    if not outcome.passed:
        raise RuntimeError(f"{video_id} {asset}: {outcome.summary()}")


def loop_quality_check(asset: str, lake, video_id: str) -> dict[str, int]:
    """What the asset's non-blocking quality check reads and counts (checks/quality.py) for one video:
    flagged captions per flag, and the total (a failed check is a warning there: nothing is raised)."""
    from codecvdc_assets.defs.assets.quality import read_quality

    rows = read_quality(lake, video_id, asset)
    counts = {str(f): int(n) for f, n in rows.groupby("flag")["row"].nunique().items()} if len(rows) else {}
    return {"total": len(lake.read(asset, video_id)), **counts}


def run_loop(root: Path, paths: list[str]) -> float:
    """What the asset shells and the asset checks call, video by video, with no Dagster in between: the same
    gated clients, lake writes (chapter_narratives and caption_quality too), blocking GX suites and the
    caption-quality checks' reads."""
    from codecvdc_assets.captioning import chain
    from codecvdc_assets.captioning.chapters import narrate_video_levels
    from codecvdc_assets.captioning.prompts import load_prompt
    from codecvdc_assets.defs.assets.quality import flagged_residuals, record_quality
    from codecvdc_assets.models.calls import write_model_calls
    from codecvdc_assets.storage.catalog import ensure_catalog
    from codecvdc_assets.storage.failures import failures_recorded
    from codecvdc_assets.video.probe import probe
    from codecvdc_assets.video.rows import frames_frame, segments_frame, videos_frame
    from codecvdc_assets.video.scan import scan_video

    defs, _instance, ids = _home(root, paths)
    res = defs.resources
    lake_r, seg = res["lake"], res["segmentation"]
    cap = res["captioning"]
    gates = res["quality"].settings()
    settings = chain.ChainSettings(cap.window_size, cap.window_overlap, cap.residual_context)
    prompts = {n: load_prompt(n) for n in ("anchor", "residual", "scene", "video", "chapter")}
    start = time.perf_counter()
    lake, store = lake_r.lake(), lake_r.frame_store()
    for video_id in ids:
        path = lake_r.registry().get(video_id).path
        with failures_recorded(lake, video_id, ["videos"]):
            info = probe(path)
            lake.write("videos", video_id, videos_frame(video_id, info, seg.params()))
        with failures_recorded(lake, video_id, ["segments", "frames"]):
            info = probe(path, with_sha256=False)
            scan = scan_video(info, seg.params(), store, lake_r.spool_dir())
            lake.write("segments", video_id, segments_frame(video_id, scan))
            lake.write("frames", video_id, frames_frame(video_id, scan, lake_r.frame_uri))
        frames = lake.read("frames", video_id)
        for asset in ASSETS[3:]:
            model = res["vision_model"] if asset in ("anchors", "residuals") else res["text_model"]
            client = model.client(lake_r.cache_dir(), gates)
            with failures_recorded(lake, video_id, [asset]):
                if asset == "anchors":
                    t = chain.caption_anchors(video_id, frames, store.read, client, prompts["anchor"], "b")
                elif asset == "residuals":
                    t = chain.caption_residuals(
                        video_id,
                        frames,
                        store.read,
                        client,
                        prompts["residual"],
                        "b",
                        settings,
                        lake.read("anchors", video_id) if settings.residual_context == "anchor" else None,
                    )
                elif asset == "evidence":
                    t = chain.build_evidence(
                        video_id,
                        lake.read("anchors", video_id),
                        lake.read("residuals", video_id),
                        flagged_residuals(lake, video_id),
                    )
                elif asset == "scene_narratives":
                    t = chain.narrate_scenes(
                        video_id,
                        lake.read("segments", video_id),
                        lake.read("anchors", video_id),
                        lake.read("evidence", video_id),
                        client,
                        prompts["scene"],
                        "b",
                    )
                else:
                    levels = {"video": prompts["video"], "chapter": prompts["chapter"]}
                    t, chapters, _tree = narrate_video_levels(
                        video_id, lake.read("scene_narratives", video_id), client, levels, "b", cap.max_fan_in
                    )
                    lake.write("chapter_narratives", video_id, chapters)
                lake.write(asset, video_id, t)
                if asset != "evidence":
                    record_quality(lake, video_id, asset, t, gates, client.outcomes)
                write_model_calls(lake, client.records, None)
            run_check(asset, lake, video_id, cap)
            if asset != "evidence":
                loop_quality_check(asset, lake, video_id)
    ensure_catalog(root)
    return time.perf_counter() - start


def main(quick: bool = False) -> int:
    n = int(os.environ.get("BENCH_ORCH_VIDEOS", "40" if quick else "200"))
    repeats = 1 if quick else int(os.environ.get("BENCH_ORCH_REPEATS", "3"))
    base = Path(os.environ.get("BENCH_TMP", tempfile.gettempdir()))
    with tempfile.TemporaryDirectory(prefix="codecvdc-orchbench-", dir=base) as tmp:
        paths = make_clips(Path(tmp) / "clips", n)
        dagster_s, loop_s = [], []
        for r in range(repeats):  # interleaved
            loop_s.append(run_loop(Path(tmp) / f"loop{r}", paths))
            dagster_s.append(run_dagster(Path(tmp) / f"dagster{r}", paths))
            print(f"  orchestration round {r + 1}: loop {loop_s[-1]:.1f} s, dagster {dagster_s[-1]:.1f} s")
    d, lp = statistics.median(dagster_s), statistics.median(loop_s)
    overhead = d / lp - 1
    ok = overhead <= 0.25
    label = f"{n} videos, median of {repeats}"
    report.add(SUITE, f"plain loop of the pure functions ({label})", f"{lp:.1f} s ({lp / n * 1000:.0f} ms/video)")
    report.add(SUITE, f"Dagster, {_batching()} ({label})", f"{d:.1f} s ({d / n * 1000:.0f} ms/video)")
    report.add(SUITE, "Dagster overhead", f"{overhead:+.0%}", "<= +25 %", f"{d / lp:.2f}x", ok)
    pg_n = int(os.environ.get("BENCH_ORCH_PG_VIDEOS", str(min(n, 50))))
    if pg_n > 0:
        postgres_rows(pg_n, repeats, base)
    return 0 if ok else 1


def postgres_rows(n: int, repeats: int, base: Path) -> None:
    """The same Dagster runs with the instance on a real PostgreSQL server (resources/dagster-postgres.yaml,
    the server started on loopback by tests/support/services.py), each round next to a SQLite round and a plain
    loop on the same clips, so the two overheads are measured side by side."""
    import importlib.util

    tests = Path(__file__).parents[1] / "tests"
    spec = importlib.util.spec_from_file_location("services", tests / "support" / "services.py")
    services = importlib.util.module_from_spec(spec)
    sys.modules["services"] = services  # dataclasses look their module up while it executes
    spec.loader.exec_module(services)
    settings = str(Path(__file__).parents[1] / "resources" / "dagster-postgres.yaml")
    pg_s, lite_s, loop_s = [], [], []
    with tempfile.TemporaryDirectory(prefix="codecvdc-orchbench-pg-", dir=base) as tmp:
        paths = make_clips(Path(tmp) / "clips", n)
        with services.start_postgres(Path(tmp)) as server:
            os.environ.update(server.env())
            _create_schema(Path(tmp) / "warmup", settings)  # once per database, not part of a run's cost
            for r in range(repeats):
                loop_s.append(run_loop(Path(tmp) / f"loop{r}", paths))
                pg_s.append(run_dagster(Path(tmp) / f"dagster_pg{r}", paths, settings))
                lite_s.append(run_dagster(Path(tmp) / f"dagster_sqlite{r}", paths))
                print(
                    f"  instance storage round {r + 1}: loop {loop_s[-1]:.1f} s, "
                    f"PostgreSQL {pg_s[-1]:.1f} s, SQLite {lite_s[-1]:.1f} s"
                )
        os.environ.pop("CODECVDC_DAGSTER_YAML", None)
    p, q, lp = statistics.median(pg_s), statistics.median(lite_s), statistics.median(loop_s)
    label = f"{n} videos, median of {repeats}, interleaved"
    for name, value in (("SQLite", q), ("PostgreSQL", p)):
        per_video = f"{value:.1f} s ({value / n * 1000:.0f} ms/video), overhead {value / lp - 1:+.0%}"
        report.add(
            SUITE, f"instance on {name}: Dagster vs loop {lp:.1f} s ({label})", per_video, "", f"{value / lp:.2f}x"
        )
    report.add(SUITE, "PostgreSQL vs SQLite instance (same rounds)", f"{p:.1f} s / {q:.1f} s", "", f"{p / q:.2f}x")


def _create_schema(root: Path, instance_yaml: str) -> None:
    import dagster as dg

    from codecvdc_assets.settings import dagster_home

    os.environ["CODECVDC_DAGSTER_YAML"] = instance_yaml
    dagster_home(root)
    with dg.DagsterInstance.get() as instance:
        instance.get_runs(limit=1)
