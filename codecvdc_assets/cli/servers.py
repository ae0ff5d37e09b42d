"""`codecvdc serve-embedded` and `codecvdc ui`: the embedded models over HTTP, the Dagster UI on this home."""

from __future__ import annotations

import argparse
import os
import sys

from codecvdc_assets.cli.common import (
    CliError,
    check_port,
    cli_home,
)


def add_serve_parser(sub) -> None:
    p = sub.add_parser("serve-embedded", help="the embedded models behind an OpenAI-compatible HTTP API")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--host", default="127.0.0.1", help="bind address (default loopback only)")
    p.add_argument(
        "--allow-remote", action="store_true", help="allow a --host other than loopback (the API has no authentication)"
    )
    p.add_argument("--latency-ms", type=float, default=0.0, help="added to every request")
    p.add_argument("--fault-rate", type=float, default=0.0, help="share of requests that get a fault")
    p.add_argument(
        "--faults",
        default="429,500,malformed,truncated",
        help="faults to draw from (transport/schema faults, or degenerate answers: loop, refusal, echo, foreign, "
        "same_sentence, one_caption)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--context-tokens",
        type=int,
        default=None,
        metavar="N",
        help="serve an N-token window like vLLM's --max-model-len: a longer request gets HTTP 400 (default: none)",
    )
    p.set_defaults(func=cmd_serve_embedded)


def add_ui_parser(sub) -> None:
    p = sub.add_parser("ui", help="start the Dagster UI (dagster dev) on this home")
    p.add_argument("--port", type=int, default=3000)
    p.add_argument("--host", default="127.0.0.1")
    p.set_defaults(func=cmd_ui)


def cmd_serve_embedded(args: argparse.Namespace) -> int:
    from codecvdc_assets.models.server import MODELS, FaultPlan, serve

    faults = tuple(f for f in args.faults.split(",") if f)
    try:
        plan = FaultPlan(
            latency_s=args.latency_ms / 1000,
            fault_rate=args.fault_rate,
            faults=faults,
            seed=args.seed,
            context_tokens=args.context_tokens,
        )
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        if not args.allow_remote:
            raise CliError(f"serve-embedded: --host {args.host} is not loopback; add --allow-remote to bind it")
        print(
            f"codecvdc: warning: binding to {args.host}, not loopback; anyone who can reach it can use it",
            file=sys.stderr,
        )
    check_port(args.host, args.port)
    window = f" (context {args.context_tokens} tokens)" if args.context_tokens else ""
    print(f"serving {', '.join(MODELS)} on http://{args.host}:{args.port}/v1{window}", flush=True)
    serve(args.host, args.port, plan)
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    from codecvdc_assets.runs.event_batch import event_batch_env
    from codecvdc_assets.runs.process_group import run_forwarding_signals
    from codecvdc_assets.settings import project_dir

    home = cli_home()
    print(f"Dagster UI on http://{args.host}:{args.port} (DAGSTER_HOME={os.environ['DAGSTER_HOME']})", flush=True)
    # The daemon's backfill submissions and the runs write Dagster's event batches in one transaction each.
    env = event_batch_env(dict(os.environ, CODECVDC_HOME=str(home)))
    cmd = [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-h", args.host, "-p", str(args.port)]
    return run_forwarding_signals(cmd, cwd=project_dir(), env=env)
