"""Model-call pipeline vs the endpoint bound, and cache lookup cost at 100,000 entries.

1. The loopback server adds latency L to every request; with concurrency C the endpoint bound is C/L
   requests per second. 500 distinct requests (text task, no cache) through ModelClient + the openai
   client must reach >= 90 % of it at C=32 with L=500 ms and with L=100 ms (320 requests/s).
2. 100,000 entries in the call cache: median cost of a lookup (hit and miss) must be < 1 ms.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from codecvdc_assets.models import messages as m
from codecvdc_assets.models.cache import CallCache
from codecvdc_assets.models.client import ModelClient
from codecvdc_assets.models.embedded.backend import TEXT_MODEL
from codecvdc_assets.models.openai_backend import OpenAIBackend
from codecvdc_assets.models.server import free_port
from codecvdc_assets.models.task_schemas import SCHEMAS
from codecvdc_assets.models.types import ModelRequest

from . import report

SUITE = "2 model calls"

# (concurrency C, latency L): the first is the target setting (L like a VLM answer); the others show
# where one client process tops out (the openai client costs ~3 ms CPU per request).
SETTINGS = [(32, 0.5), (16, 0.2), (32, 0.1)]
TARGETED = {(32, 0.5), (32, 0.1)}  # >= 0.90 of C/L (issues #2 and #16: 320 requests/s from one process)
N_REQUESTS = 500
SERVER_PID = [0]  # the serve-embedded process of the running measurement (its CPU time is reported)
N_CACHE = int(os.environ.get("BENCH_CACHE_ENTRIES", "100000"))


def _request(i: int) -> ModelRequest:
    block = json.dumps(
        {
            "caption": f"Item {i}: the red object moves right.",
            "question": "Which way?",
            "options": {"A": "left", "B": "right"},
        }
    )
    return ModelRequest("qa_answer", [m.user("Answer.", f"```json\n{block}\n```")], SCHEMAS["qa_answer"])


@contextlib.contextmanager
def endpoint(latency_s: float):
    """`codecvdc serve-embedded` in its own process, as a real endpoint would be."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "codecvdc_assets.cli",
        "serve-embedded",
        "--port",
        str(port),
        "--latency-ms",
        str(latency_s * 1000),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base_url}/models", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("serve-embedded did not start") from None
                time.sleep(0.2)
        SERVER_PID[0] = proc.pid
        yield base_url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def throughput(concurrency: int, latency_s: float) -> tuple[float, float, float, float]:
    """(requests/s, ratio to C/L, client CPU ms per request, server CPU ms per request)."""
    with endpoint(latency_s) as base_url:
        backend = OpenAIBackend(TEXT_MODEL, [base_url], per_endpoint_concurrency=concurrency)
        client = ModelClient(backend, concurrency=concurrency)
        client.complete_many([_request(-i) for i in range(1, concurrency + 1)])  # warm-up: connections
        server0, client0 = _cpu_s(SERVER_PID[0]), time.process_time()
        started = time.perf_counter()
        client.complete_many([_request(i) for i in range(N_REQUESTS)])
        elapsed = time.perf_counter() - started
        client_ms = (time.process_time() - client0) / N_REQUESTS * 1000
        server_ms = (_cpu_s(SERVER_PID[0]) - server0) / N_REQUESTS * 1000
    rate = N_REQUESTS / elapsed
    return rate, rate / (concurrency / latency_s), client_ms, server_ms


def cache_lookup() -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as root:
        cache = CallCache(root)
        value = json.dumps({"data": {"answer": "B", "rationale": "x" * 200}}).encode()
        keys = [f"{random.getrandbits(256):064x}" for _ in range(N_CACHE)]
        for key in keys:  # bulk fill without the per-entry fsync of CallCache.put (setup only)
            path = cache.path(key)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as fh:
                fh.write(value)
        sample = random.sample(keys, min(10_000, len(keys)))
        misses = [f"{random.getrandbits(256):064x}" for _ in sample]
        hit_times, miss_times = [], []
        for hit, miss in zip(sample, misses, strict=True):
            t0 = time.perf_counter()
            assert cache.get(hit) is not None
            t1 = time.perf_counter()
            assert cache.get(miss) is None
            t2 = time.perf_counter()
            hit_times.append(t1 - t0)
            miss_times.append(t2 - t1)
        return statistics.median(hit_times) * 1000, statistics.median(miss_times) * 1000


def main() -> int:
    print(f"model calls: {N_REQUESTS} distinct requests over HTTP to serve-embedded with injected latency L")
    print(f"  {'C':>4}{'L ms':>7}{'req/s':>9}{'C/L':>7}{'ratio':>7}")
    ratios = []
    for concurrency, latency_s in SETTINGS:
        rate, ratio, client_ms, server_ms = throughput(concurrency, latency_s)
        ratios.append(ratio)
        bound = concurrency / latency_s
        print(f"  {concurrency:>4}{latency_s * 1000:>7.0f}{rate:>9.1f}{bound:>7.0f}{ratio:>7.2f}")
        first = (concurrency, latency_s) in TARGETED
        report.add(
            SUITE,
            f"C={concurrency}, L={latency_s * 1000:.0f} ms: requests/s vs C/L",
            f"{rate:.1f} / {bound:.0f}",
            ">= 0.90" if first else "",
            f"{ratio:.2f}",
            (ratio >= 0.9) if first else None,
        )
        # CPU per request: with 2 shared cores, client + server CPU x C/L must fit in what the run gets.
        report.add(
            SUITE,
            f"C={concurrency}, L={latency_s * 1000:.0f} ms: CPU per request, client / serve-embedded",
            f"{client_ms:.2f} / {server_ms:.2f} ms",
            "",
            f"{1000 / client_ms:.0f} / {1000 / max(server_ms, 1e-3):.0f} req/s per core",
        )
    print("  target: ratio >= 0.90 at C=32 with L=500 ms and L=100 ms")
    hit_ms, miss_ms = cache_lookup()
    print(f"call cache: {N_CACHE:,} entries, median lookup {hit_ms:.3f} ms (hit), {miss_ms:.3f} ms (miss)")
    print("  target < 1 ms")
    report.add(
        SUITE,
        f"call cache lookup, {N_CACHE:,} entries (hit / miss)",
        f"{hit_ms:.3f} / {miss_ms:.3f} ms",
        "< 1 ms",
        "",
        hit_ms < 1 and miss_ms < 1,
    )
    ok = all(r >= 0.9 for r, s in zip(ratios, SETTINGS, strict=True) if s in TARGETED) and hit_ms < 1 and miss_ms < 1
    print("result:", "all targets met" if ok else "a target was missed")
    return 0
