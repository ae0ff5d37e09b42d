"""The UI a user opens really loads: dagster-webserver on loopback, asset graph via GraphQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from support.paths import PROJECT
from support.services import free_port

QUERY = """
{
  assetNodes {
    assetKey { path }
    partitionDefinition { type name }
    groupName
  }
}
"""


def graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_webserver_serves_every_asset(tmp_path) -> None:
    port = free_port()
    home = tmp_path / "home"
    env = dict(os.environ, CODECVDC_HOME=str(home), DAGSTER_HOME=str(home / "dagster"))
    (home / "dagster").mkdir(parents=True)
    webserver = Path(sys.executable).with_name("dagster-webserver")
    log = open(tmp_path / "webserver.log", "w")  # noqa: SIM115 - outlives this block, closed below
    proc = subprocess.Popen(
        [str(webserver), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=PROJECT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 180
        nodes = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "webserver.log").read_text()[-3000:]
            try:
                data = graphql(port, QUERY)
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(1)
                continue
            nodes = data.get("data", {}).get("assetNodes")
            if nodes:
                break
            time.sleep(1)  # the code location is still loading
        assert nodes, f"no asset nodes from the webserver: {(tmp_path / 'webserver.log').read_text()[-3000:]}"
        keys = {"/".join(n["assetKey"]["path"]) for n in nodes}
        per_video = {
            "videos",
            "segments",
            "frames",
            "anchors",
            "residuals",
            "evidence",
            "scene_narratives",
            "video_narratives",
            "chapter_narratives",
            "direct_captions",
            "per_second_captions",
            "longcap_frames",
            "longcap_clips",
            "longcap_video",
            "longcap_sections",
            "vidcapqa_answers",
        }
        assert per_video | {"vidcapqa_bank", "vidcapqa_scores"} == keys
        for node in nodes:
            if "/".join(node["assetKey"]["path"]) in per_video:
                assert node["partitionDefinition"]["type"] == "DYNAMIC"
                assert node["partitionDefinition"]["name"] == "videos"
            else:  # dataset-level: the question bank, the scores over all videos
                assert node["partitionDefinition"] is None
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
