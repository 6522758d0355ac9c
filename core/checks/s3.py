"""S3 buckets: ``HeadBucket`` with the handle's keys and region, through the one AWS client (:mod:`..aws`).

A handle is ``s3://ACCESS_KEY:SECRET_KEY@BUCKET?region=REGION``, or ``s3://BUCKET?region=REGION`` without
keys, checked with the standard AWS credential chain (profile, environment, instance role). Without
``region`` the check uses ``AWS_REGION`` (or ``AWS_DEFAULT_REGION``). The endpoint is AWS's unless
``?endpoint=`` names another or ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` is set (MinIO, moto, another
S3-compatible store).
"""

from __future__ import annotations

import os
from urllib.parse import parse_qs, unquote, urlsplit

import botocore.exceptions as bx

from .. import aws
from ..errors import ChangeoverError
from ..handles import Handle
from .base import CheckResult, cause_chain, failed, network_reason, ok, timed, wrong_protocol


def check(handle: Handle, timeout: float) -> CheckResult:
    parts = urlsplit(handle.full())
    bucket = parts.hostname or ""
    query = {k.lower(): v[-1] for k, v in parse_qs(parts.query).items()}
    region = query.get("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    endpoint = query.get("endpoint") or aws.endpoint_url("s3")
    where = urlsplit(endpoint).netloc if endpoint else f"s3.{region}.amazonaws.com"
    host, _, port_text = where.partition(":")
    port = int(port_text) if port_text.isdigit() else None
    user, secret = unquote(parts.username or ""), unquote(parts.password or "")
    with timed() as timer:
        try:  # one try: a health check says what it saw at once
            client = aws.client(
                "s3",
                region,
                keys=(user, secret) if user and secret else None,
                endpoint=endpoint,
                timeout=timeout,
                attempts=1,
            )
        except ChangeoverError as exc:  # a profile named in AWS_PROFILE that is not there
            return failed(timer, exc.message, handle)
        try:
            client.head_bucket(Bucket=bucket)
        except bx.NoCredentialsError:
            return failed(
                timer,
                f"No AWS credentials for bucket '{bucket}': give this machine some (AWS_PROFILE, an instance or "
                f"task role) or put keys in the handle (s3://KEY:SECRET@{bucket}).",
            )
        except bx.ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in {"404", "NoSuchBucket", "NotFound"}:
                return failed(timer, f"No bucket named '{bucket}' at {where} (region {region}).", handle)
            if code in {"403", "AccessDenied", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch"}:
                return failed(
                    timer,
                    f"Access denied to bucket '{bucket}' at {where}: wrong keys, or no permission (HTTP {status}).",
                    handle,
                )
            if code in {"301", "PermanentRedirect", "400"}:
                return failed(
                    timer,
                    f"Bucket '{bucket}' is not in region {region}: set ?region= in the handle (HTTP {status}).",
                    handle,
                )
            return failed(timer, f"{where} answered HeadBucket with {code} (HTTP {status}).", handle)
        except (bx.SSOError, bx.TokenRetrievalError, bx.ProfileNotFound) as exc:  # a sign-in, not the network
            return failed(timer, aws.in_words(exc, f"check the bucket '{bucket}'").message, handle)
        except (bx.ConnectTimeoutError, bx.ReadTimeoutError):
            return failed(timer, f"Timed out waiting for {where}: the server did not answer in time.", handle)
        except bx.EndpointConnectionError as exc:
            return failed(timer, _network(exc, host, port, where), handle)
        except bx.BotoCoreError as exc:
            return failed(timer, _network(exc, host, port, where), handle)
        finally:
            client.close()
        return ok(timer, f"Bucket '{bucket}' at {where} answered HeadBucket (region {region}).")


def _network(exc: BaseException, host: str, port: int | None, where: str) -> str:
    for inner in cause_chain(exc):
        known = network_reason(inner, host, port)
        if known:
            return known
    text = str(exc)
    if "refused" in text.lower():
        return f"Connection refused at {where}: nothing listens there. Is the server running on that port?"
    if isinstance(exc, bx.ConnectionClosedError) or "closed" in text.lower() or "BadStatusLine" in text:
        return wrong_protocol("S3 (HTTP)", where, text[:120])
    return f"Could not reach {where}: {text[:200]}"
