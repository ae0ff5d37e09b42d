"""The profile's `executor` section: which executor daemon-launched runs use."""

from __future__ import annotations

import importlib.util

import pytest

from codecvdc_assets import definitions
from codecvdc_assets.defs.executors import build_executor
from codecvdc_assets.settings import load_profile


def test_no_section_keeps_dagsters_default() -> None:
    assert build_executor(None) is None
    assert build_executor({}) is None


def test_multiprocess_with_a_limit_reaches_the_asset_job(home, monkeypatch) -> None:
    profile = {**load_profile("embedded"), "executor": {"kind": "multiprocess", "config": {"max_concurrent": 2}}}
    monkeypatch.setattr(definitions, "load_profile", lambda name=None: profile)
    defs = definitions.build_definitions(home=str(home))
    job = defs.resolve_implicit_global_asset_job_def()
    assert job.executor_def.name == "multiprocess"
    # configured(): the limit is baked in, so the run config needs no execution section.
    assert job.executor_def.apply_config_mapping({}).value["config"]["max_concurrent"] == 2


@pytest.mark.parametrize("kind, module", [("k8s", "dagster_k8s"), ("celery", "dagster_celery")])
def test_cluster_executors_need_their_package(kind: str, module: str) -> None:
    if importlib.util.find_spec(module) is None:
        with pytest.raises(RuntimeError, match=rf"pip install 'codecvdc\[{kind}\]'"):
            build_executor({"kind": kind})
    else:
        assert build_executor({"kind": kind}).name == kind


def test_unknown_kind_and_bad_config_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="'ray' is not one of"):
        build_executor({"kind": "ray"})
    with pytest.raises(ValueError, match="must be a mapping"):
        build_executor({"kind": "multiprocess", "config": [1, 2]})


def test_the_k8s_example_profile_is_complete() -> None:
    profile = load_profile("k8s")
    assert profile["executor"]["kind"] == "k8s"
    assert profile["executor"]["config"]["max_concurrent"] >= 1
    for section in ("vision_model", "text_model"):
        assert profile[section]["backend"] == "openai" and len(profile[section]["base_urls"]) >= 2
    assert profile["automation"]["batch_size"] >= 25
