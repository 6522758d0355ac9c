"""Every AWS failure a user can meet says what to do: no region, no credentials, an SSO sign-in missing or
expired, expired keys, an endpoint that refuses or never answers; and one retry policy, not two stacked.

Failures are real where they can be (a closed port, a socket that never answers, an HTTP endpoint that
throttles every request, SSO profiles in a temporary AWS config); botocore's Stubber only for an answer
moto does not give (an expired session token).
"""

from __future__ import annotations

import hashlib
import http.server
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import botocore.credentials
import botocore.tokens
import pytest
from botocore.retries.standard import ExponentialBackoff
from botocore.stub import Stubber

from changeover.core import aws, handles
from changeover.core.aws import AWSError
from changeover.core.checks import s3 as s3_check
from changeover.core.configstores import SsmStore

from .conftest import REGION

PREFIX = "/shop/prod"
START_URL = "https://example.awsapps.com/start"


@pytest.fixture
def instant_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's retries without their real waits (the count of tries is what is tested)."""
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0)


def test_a_missing_region_is_asked_for() -> None:
    with pytest.raises(AWSError, match="No AWS region given for ssm: name one, for example eu-west-1") as raised:
        aws.client("ssm", "")
    assert raised.value.title == "No AWS region"


def test_no_credentials_says_where_they_may_come_from(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var)
    with pytest.raises(AWSError) as raised:
        SsmStore(PREFIX, region=REGION).read()
    assert raised.value.title == "No AWS credentials"
    assert raised.value.message.startswith(f"No AWS credentials were found to read the SSM path {PREFIX}")
    for fix in ("AWS_PROFILE", "?profile=NAME", "AWS_ACCESS_KEY_ID", "`aws sso login`", "instance or task role"):
        assert fix in raised.value.message


def sso_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, expired_token: bool) -> None:
    """An AWS config with two SSO profiles (the legacy form and an sso-session), HOME in ``tmp_path``,
    and, if asked, a cached SSO token that has expired."""
    config = tmp_path / "config"
    config.write_text(
        f"[profile legacy]\nsso_start_url = {START_URL}\nsso_region = {REGION}\nsso_account_id = 123456789012\n"
        f"sso_role_name = Admin\nregion = {REGION}\n\n"
        f"[profile team]\nsso_session = team\nsso_account_id = 123456789012\nsso_role_name = Admin\n"
        f"region = {REGION}\n\n[sso-session team]\nsso_start_url = {START_URL}\nsso_region = {REGION}\n"
    )
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var)
    cache = tmp_path / ".aws" / "sso" / "cache"  # botocore reads ~ once, at import: its cache is pointed here
    cache.mkdir(parents=True)
    monkeypatch.setattr(botocore.credentials.SSOProvider, "_SSO_TOKEN_CACHE_DIR", str(cache))
    monkeypatch.setattr(botocore.tokens.SSOTokenProvider, "_SSO_TOKEN_CACHE_DIR", str(cache))
    if expired_token:
        token = {"startUrl": START_URL, "region": REGION, "accessToken": "x", "expiresAt": "2020-01-01T00:00:00Z"}
        for key in (START_URL, "team"):  # the legacy profile's cache name, then the sso-session's
            (cache / f"{hashlib.sha1(key.encode()).hexdigest()}.json").write_text(json.dumps(token))


@pytest.mark.parametrize("profile", ["legacy", "team"])
def test_an_expired_sso_sign_in_says_to_sign_in_again(
    profile: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sso_home(tmp_path, monkeypatch, expired_token=True)
    with pytest.raises(AWSError) as raised:
        SsmStore(PREFIX, region=REGION, profile=profile).read()
    assert raised.value.title == "AWS sign-in expired"
    assert f"Could not read the SSM path {PREFIX} in {REGION}: the AWS SSO session has expired" in raised.value.message
    assert "Run `aws sso login`" in raised.value.message


def test_the_health_check_of_a_bucket_says_sign_in_not_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sso_home(tmp_path, monkeypatch, expired_token=True)
    monkeypatch.setenv("AWS_PROFILE", "team")
    result = s3_check.check(handles.parse(f"s3://orders-files?region={REGION}"), 5.0)
    assert not result.ok
    assert result.reason.startswith("Could not check the bucket 'orders-files': the AWS SSO session has expired")


def test_an_sso_profile_never_signed_in_says_to_sign_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sso_home(tmp_path, monkeypatch, expired_token=False)
    with pytest.raises(AWSError) as raised:
        SsmStore(PREFIX, region=REGION, profile="team").read()
    assert raised.value.title == "Not signed in to AWS"
    assert "there is no SSO session yet. Run `aws sso login`" in raised.value.message


def test_expired_session_keys_say_to_sign_in_again() -> None:
    store = SsmStore(PREFIX, region=REGION)
    with Stubber(store.ssm) as stub:
        stub.add_client_error("get_parameters_by_path", "ExpiredTokenException", "The security token expired", 400)
        with pytest.raises(AWSError) as raised:
            store.read()
    assert raised.value.title == "AWS sign-in expired" and raised.value.code == "ExpiredTokenException"
    assert "credentials have expired (ExpiredTokenException). Sign in again" in raised.value.message


def closed_port() -> int:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        return int(free.getsockname()[1])


def test_an_endpoint_that_refuses_is_named_with_the_fix(monkeypatch: pytest.MonkeyPatch, instant_backoff: None) -> None:
    port = closed_port()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    with pytest.raises(AWSError) as raised:
        SsmStore(PREFIX, region=REGION).read()
    assert raised.value.title == "AWS unreachable"
    assert raised.value.message.startswith(f"Cannot reach http://127.0.0.1:{port} to read the SSM path {PREFIX}")
    assert "Check the network, the region and AWS_ENDPOINT_URL" in raised.value.message


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A port that takes connections and never answers."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(16)
        yield f"http://127.0.0.1:{listening.getsockname()[1]}"


def test_an_endpoint_that_never_answers_is_said_in_time(
    silent_endpoint: str, monkeypatch: pytest.MonkeyPatch, instant_backoff: None
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", silent_endpoint)
    ssm = aws.client("ssm", REGION, timeout=0.3)
    with pytest.raises(AWSError) as raised, aws.translated("read /shop/prod/X", "ssm:GetParameter"):
        ssm.get_parameter(Name="/shop/prod/X")
    assert raised.value.title == "AWS did not answer"
    assert raised.value.message.startswith(f"{silent_endpoint} did not answer in time to read /shop/prod/X")
    assert "check the network" in raised.value.message


class Throttling(http.server.BaseHTTPRequestHandler):
    """An SSM endpoint that answers every request with ThrottlingException, counting them."""

    requests = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).requests += 1
        body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def throttling_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[Throttling]]:
    Throttling.requests = 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Throttling)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_address[1]}")
    yield Throttling
    server.shutdown()
    server.server_close()
    thread.join()


def test_one_retry_policy_for_every_call(throttling_endpoint: type[Throttling], instant_backoff: None) -> None:
    ssm = aws.client("ssm", REGION)
    with pytest.raises(AWSError) as raised:
        aws.call(ssm, "GetParameter", "read /shop/prod/X", Name="/shop/prod/X")
    assert throttling_endpoint.requests == aws.THROTTLE_ATTEMPTS, "botocore's tries, not multiplied by call()'s"
    assert raised.value.title == "AWS throttled the requests"
    assert f"after {aws.THROTTLE_ATTEMPTS} tries with backoff: wait a minute" in raised.value.message

    throttling_endpoint.requests = 0
    with pytest.raises(AWSError, match="kept throttling"), aws.translated("read /shop/prod/X", "ssm:GetParameter"):
        ssm.get_parameter(Name="/shop/prod/X")
    assert throttling_endpoint.requests == aws.THROTTLE_ATTEMPTS
