"""Shared fixtures: generated clips, an isolated CODECVDC_HOME, moto's S3 server (support/s3.py); the real
clips of ../shared/videos come from support.paths.shared."""

from __future__ import annotations

from pathlib import Path

import pytest

from codecvdc_assets.video.synthetic import write_clip

pytest_plugins = ["support.s3"]  # moto's S3 server fixtures (s3_endpoint, s3_env)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty CODECVDC_HOME (and Dagster home inside it) for one test."""
    target = tmp_path / "home"
    monkeypatch.setenv("CODECVDC_HOME", str(target))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("CODECVDC_PROFILE", raising=False)
    from codecvdc_assets.settings import dagster_home

    target.mkdir()
    dagster_home(target)
    return target


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Generated clips with known content, made once per session."""
    folder = tmp_path_factory.mktemp("clips")
    made = {
        # 130 s, no cut: the max-duration rule must split it.
        "long": write_clip(str(folder / "long.mp4"), 130.0, fps=10, width=160, height=120, keyint=50),
        # Hard cuts at 2 s and 5 s, fixed 12-frame GOP (content-primary).
        "cuts": write_clip(str(folder / "cuts.mp4"), 8.0, fps=25, width=192, height=144, cuts_s=(2.0, 5.0), keyint=12),
        # A still picture in a lossless codec: every decoded frame is identical.
        "static": write_clip(str(folder / "static.mkv"), 4.0, fps=10, width=96, height=64, codec="ffv1", square=False),
    }
    return made


# The longest modules first: `make test` spreads whole files over worker processes (pytest-xdist,
# --dist loadfile) in collection order, so a long file collected last would run alone at the end.
LONGEST_FIRST = [  # by the time of each file in a `make test` run of 2026-12-01 (3 workers)
    "scenarios/test_long_videos.py",  # ~4 min on a loaded machine (issue 21), measured alone
    "scenarios/test_celery.py",
    "scenarios/test_live_daemon.py",
    "scenarios/test_pool_scale.py",  # (issue #23: two whole-chain runs in its session fixture)
    "scenarios/test_interrupt.py",
    "scenarios/test_crash_resume.py",
    "scenarios/test_s3_outage.py",
    "scenarios/test_parallel_runs.py",
    "scenarios/test_postgres_instance.py",
    "storage/test_integrity.py",
    "defs/test_caption_metrics.py",
    "scenarios/test_endpoint_faults.py",
    "scenarios/test_quality_gates.py",
    "evaluation/test_report.py",
    "export/test_export.py",
    "scenarios/test_s3.py",
    "cli/test_commands.py",
    "scenarios/test_bad_inputs.py",
    "scenarios/test_disk_full.py",
]


TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(
        key=lambda item: rank.get(item.path.relative_to(TESTS).as_posix(), len(rank))
    )  # stable: the rest keep their order
