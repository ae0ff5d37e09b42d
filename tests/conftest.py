"""Shared fixtures: the real clips in ../shared/videos, generated clips, an isolated CODECVDC_HOME."""

from __future__ import annotations

from pathlib import Path

import pytest

from codecvdc_assets.video.synthetic import write_clip

SHARED_VIDEOS = Path(__file__).resolve().parents[1].parent / "shared" / "videos"


def shared(name: str) -> str:
    path = SHARED_VIDEOS / name
    if not path.exists():
        pytest.fail(f"{path} is missing: the tests need ../shared/videos beside the checkout")
    return str(path)


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
    "test_celery.py",
    "test_live_daemon.py",
    "test_crash_resume.py",
    "test_s3_outage.py",
    "test_parallel_runs.py",
    "test_postgres_instance.py",
    "test_integrity.py",
    "test_caption_metrics_platform.py",
    "test_endpoint_faults.py",
    "test_report.py",
    "test_export.py",
    "test_s3.py",
    "test_cli.py",
    "test_bad_inputs.py",
    "test_disk_full.py",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order
