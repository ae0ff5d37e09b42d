"""The stale sensor and the backfill schedule leave alone the videos an unfinished run already covers."""

from __future__ import annotations

import socket

import dagster as dg
from dagster._core.test_utils import create_run_for_test

from codecvdc_assets.defs.stale_runs import in_flight
from codecvdc_assets.runs.batching import RANGE_END, RANGE_START
from codecvdc_assets.runs.instance import PROCESS_TAG

ORDER = ["a", "b", "c", "d", "e"]


def test_unfinished_runs_mark_their_videos_busy() -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        status = dg.DagsterRunStatus

        def run(state, **tags):
            create_run_for_test(instance, job_name="__anonymous_asset_job_stale_assets", status=state, tags=tags)

        run(status.STARTED, **{"dagster/partition": "a"})
        run(status.NOT_STARTED, **{RANGE_START: "b", RANGE_END: "c"})
        run(status.SUCCESS, **{"dagster/partition": "d"})  # finished: not busy
        dead = f"{socket.gethostname()}:999999999:1"  # a CLI process that was killed: its run says STARTED
        run(status.STARTED, **{"dagster/partition": "e", PROCESS_TAG: dead})
        assert in_flight(instance, ORDER) == ({"a", "b", "c"}, False)
        run(status.STARTING)  # a dataset-level run (no partition): everything waits for it
        assert in_flight(instance, ORDER) == ({"a", "b", "c"}, True)
