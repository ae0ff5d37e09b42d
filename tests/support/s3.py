"""moto's S3 server on loopback and the s3 profile's environment, as pytest fixtures (import them into a
test module to use them there)."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from support.services import free_port

BUCKET = "codecvdc-test"
PREFIX = "pool/run1"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on a free loopback port for this module (no network beyond 127.0.0.1)."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """A fresh bucket and the environment of the s3 profile (credentials only in the environment)."""
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "CODECVDC_S3_ENDPOINT_URL": s3_endpoint,
        "CODECVDC_S3_BUCKET": BUCKET,
        "CODECVDC_S3_PREFIX": PREFIX,
        "CODECVDC_S3_VIDEO_PREFIX": "incoming/videos",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(key, raising=False)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    yield {"client": client, **env}
    keys = [
        o["Key"] for p in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET) for o in p.get("Contents", [])
    ]
    for i in range(0, len(keys), 1000):
        client.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": k} for k in keys[i : i + 1000]]})
    client.delete_bucket(Bucket=BUCKET)
