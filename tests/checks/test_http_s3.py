"""HTTP API and CouchDB ``/_up`` checks against servers in a thread; S3 HeadBucket through moto's server."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import boto3
import pytest

from .conftest import assert_failed, assert_ok, run_check

TOKEN = "tok-" + "abc123secret"
COUCH_USER, COUCH_PASSWORD = "admin", "couch-pw-secret"


class _Api(BaseHTTPRequestHandler):
    """A CouchDB-compatible ``/_up`` (Basic auth) and an API that wants a bearer token or ``?api_key=``."""

    maintenance: ClassVar[bool] = False
    seen_paths: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: object) -> None:
        return

    def _send(self, code: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        self.seen_paths.append(self.path.split("?")[0])
        auth = self.headers.get("Authorization", "")
        if self.path == "/_up":
            good = "Basic " + base64.b64encode(f"{COUCH_USER}:{COUCH_PASSWORD}".encode()).decode()
            if auth != good:
                self._send(401, {"error": "unauthorized", "reason": "Name or password is incorrect."})
            else:
                self._send(200, {"status": "maintenance_mode" if self.maintenance else "ok"})
            return
        if auth == f"Bearer {TOKEN}" or f"api_key={TOKEN}" in self.path:
            if self.path.startswith("/missing"):
                self._send(404, {"error": "no such page"})
            else:
                self._send(200, {"ok": True})
        else:
            self._send(401, {"error": "invalid api key"})


@pytest.fixture(scope="module")
def api_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_couchdb_up_with_credentials(api_port: int) -> None:
    _Api.seen_paths.clear()
    assert_ok(run_check(f"couchdb://{COUCH_USER}:{COUCH_PASSWORD}@127.0.0.1:{api_port}/orders"), "GET /_up", "200")
    assert _Api.seen_paths == ["/_up"]


def test_couchdb_wrong_password_and_maintenance(api_port: int) -> None:
    assert_failed(run_check(f"couchdb://{COUCH_USER}:wrong-pw@127.0.0.1:{api_port}/orders"), "wrong credentials", "401")
    _Api.maintenance = True
    try:
        result = run_check(f"couchdb://{COUCH_USER}:{COUCH_PASSWORD}@127.0.0.1:{api_port}/orders")
    finally:
        _Api.maintenance = False
    assert_failed(result, "not ok", "maintenance_mode")


def test_http_api_with_the_key_as_bearer_or_query(api_port: int) -> None:
    assert_ok(run_check(f"http://{TOKEN}@127.0.0.1:{api_port}/v1"), "GET /v1", "HTTP 200")
    assert_ok(run_check(f"http://127.0.0.1:{api_port}/v1?api_key={TOKEN}"), "HTTP 200")
    _Api.seen_paths.clear()
    assert_ok(run_check(f"http://{TOKEN}@127.0.0.1:{api_port}/v1#health=/status"), "GET /status")
    assert _Api.seen_paths == ["/status"]


def test_http_api_base_without_a_page_is_up_but_a_health_path_must_answer(api_port: int) -> None:
    assert_ok(run_check(f"http://{TOKEN}@127.0.0.1:{api_port}/missing"), "HTTP 404", "it is up")
    assert_failed(run_check(f"http://{TOKEN}@127.0.0.1:{api_port}/#health=/missing"), "HTTP 404")


def test_http_api_wrong_key(api_port: int) -> None:
    assert_failed(run_check(f"http://wrong-token-value@127.0.0.1:{api_port}/v1"), "wrong credentials", "401")


def test_http_refused_wrong_protocol_timeout(
    refused_port: int, silent_port: int, redis_server: tuple[int, str]
) -> None:
    assert_failed(run_check(f"http://{TOKEN}@127.0.0.1:{refused_port}/"), "refused")
    assert_failed(run_check(f"couchdb://a:pw-secret@127.0.0.1:{redis_server[0]}/db"), "wrong protocol")
    assert_failed(run_check(f"http://{TOKEN}@127.0.0.1:{redis_server[0]}/"), "wrong protocol")
    assert_failed(run_check(f"http://{TOKEN}@127.0.0.1:{silent_port}/"), "timed out")


def test_https_to_a_plain_port_is_a_tls_error(api_port: int) -> None:
    assert_failed(run_check(f"https://{TOKEN}@127.0.0.1:{api_port}/"), "TLS error")


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    s3 = boto3.client(
        "s3", endpoint_url=endpoint, region_name="eu-west-1", aws_access_key_id="AKIDTEST", aws_secret_access_key="x"
    )
    s3.create_bucket(Bucket="co-assets", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.close()
    yield endpoint
    server.stop()


def test_s3_head_bucket_through_aws_endpoint_url(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    assert_ok(run_check("s3://AKIDTEST:s3-secret-key@co-assets?region=eu-west-1"), "co-assets", "HeadBucket")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert_ok(run_check("s3://AKIDTEST:s3-secret-key@co-assets"), "region eu-west-1")


def test_s3_missing_bucket(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    assert_failed(run_check("s3://AKIDTEST:s3-secret-key@co-no-such-bucket?region=eu-west-1"), "no bucket named")


def test_s3_refused_wrong_protocol_timeout(
    refused_port: int, silent_port: int, redis_server: tuple[int, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for port, words in (
        (refused_port, ("refused",)),
        (redis_server[0], ("wrong protocol",)),
        (silent_port, ("timed out",)),
    ):
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
        assert_failed(run_check("s3://AKIDTEST:s3-secret-key@co-assets?region=eu-west-1"), *words)


_PLAIN = {"Content-Type": "text/plain"}  # else the body is parsed as a form and moto reads nothing


@pytest.fixture(scope="module")
def moto_with_auth() -> Iterator[tuple[str, str, str]]:
    """A moto server that checks signatures (IAM enforced): (endpoint, access key id, secret key)."""
    import urllib.request

    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    common = {"endpoint_url": endpoint, "region_name": "us-east-1"}
    iam = boto3.client("iam", aws_access_key_id="AKIDSETUP", aws_secret_access_key="x", **common)
    iam.create_user(UserName="co-checker")
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    iam.put_user_policy(UserName="co-checker", PolicyName="s3", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="co-checker")["AccessKey"]
    iam.close()
    s3 = boto3.client(
        "s3", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"], **common
    )
    s3.create_bucket(Bucket="co-private")
    s3.close()
    request = urllib.request.Request(f"{endpoint}/moto-api/reset-auth", data=b"0", method="POST", headers=_PLAIN)
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200
    yield endpoint, key["AccessKeyId"], key["SecretAccessKey"]
    reset = urllib.request.Request(f"{endpoint}/moto-api/reset-auth", data=b"inf", method="POST", headers=_PLAIN)
    with urllib.request.urlopen(reset, timeout=10):
        pass
    server.stop()


def test_s3_right_and_wrong_secret_key(moto_with_auth: tuple[str, str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from urllib.parse import quote

    endpoint, key_id, secret = moto_with_auth
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    assert_ok(run_check(f"s3://{key_id}:{quote(secret, safe='')}@co-private?region=us-east-1"), "HeadBucket")
    result = run_check(f"s3://{key_id}:wrong-secret-key@co-private?region=us-east-1")
    assert_failed(result, "access denied", "wrong keys")
