"""A real S3 API offline, for the DVC tests: moto's server on localhost, and a project's remote pointed at it.

A test module uses the fixture by naming it at its top (`s3_endpoint = s3.s3_endpoint`): it is module-scoped, so
each module that asks for it starts one server, shared by its tests.
"""

import subprocess
import sys
import time

import pytest

from classifier import cluster

BUCKET = "mnist-team"
REMOTE_URL = f"s3://{BUCKET}/dvcstore"  # the `team` remote of use_s3
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def client(endpoint: str):
    """A boto3 S3 client of the server at `endpoint`."""
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **CREDENTIALS)


@pytest.fixture(scope="module")
def s3_endpoint():
    """moto's S3 server on localhost: a real HTTP S3 API, offline, with one bucket."""
    pytest.importorskip("moto.server", reason="needs moto[server] (requirements.txt)")

    port = cluster.free_ports(1)[0]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    s3 = client(url)
    deadline = time.monotonic() + 30
    while True:
        try:
            s3.create_bucket(Bucket=BUCKET)
            break
        except Exception:  # the server is still starting: botocore raises several kinds of connection error
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail(f"moto's S3 server did not start on {url}")
            time.sleep(0.3)
    yield url
    server.terminate()
    server.wait(timeout=10)


def use_s3(project, endpoint: str) -> None:
    """The team set-up the README gives: the remote `team` in .dvc/config, credentials in .dvc/config.local."""
    project.dvc("remote", "add", "-f", "team", REMOTE_URL)
    project.dvc("remote", "modify", "team", "endpointurl", endpoint)
    project.dvc("remote", "modify", "--local", "team", "access_key_id", CREDENTIALS["aws_access_key_id"])
    project.dvc("remote", "modify", "--local", "team", "secret_access_key", CREDENTIALS["aws_secret_access_key"])
