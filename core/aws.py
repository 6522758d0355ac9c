"""Amazon Web Services plumbing: clients resolved the standard AWS way, calls retried, errors in words.

Credentials are never Changeover's: a client is made from a boto3 session (an optional named profile,
else the environment, the shared files, SSO or an instance role, as the AWS CLI finds them) for one
region. ``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_<SERVICE>``) points every client at another endpoint
(moto, LocalStack). :func:`call` runs one API call, retrying throttling with exponential backoff, and
turns what AWS answers into a :class:`AWSError` whose message says what was refused and what to do.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import boto3
import botocore.config
import botocore.exceptions

from .errors import ChangeoverError, InvalidInput

logger = logging.getLogger(__name__)

__all__ = ["AWSError", "Location", "call", "client", "parse_location"]


class AWSError(ChangeoverError):
    """AWS refused or could not be reached; the message names the action and the fix, never a secret."""

    title = "AWS refused"

    def __init__(self, message: str, *, code: str = "", title: str | None = None) -> None:
        super().__init__(message, title=title)
        self.code = code


#: error codes that mean "slow down": retried with backoff
THROTTLING = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
        "PriorRequestNotComplete",
    }
)
#: error codes that mean the identity lacks a permission
ACCESS_DENIED = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "NotAuthorized",
        "AuthorizationError",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
    }
)
THROTTLE_ATTEMPTS = 6  # tries of one call while AWS throttles it
THROTTLE_BASE_SECONDS = 0.5  # first backoff; doubled each time, with jitter, at most THROTTLE_MAX_SECONDS
THROTTLE_MAX_SECONDS = 20.0

#: how a retry waits (tests make it instant); seconds -> None
sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class Location:
    """An AWS account and region as the admin named it: ``rds://eu-west-1?profile=prod``."""

    scheme: str
    region: str
    profile: str | None = None

    def __str__(self) -> str:
        return f"{self.scheme}://{self.region}" + (f"?profile={self.profile}" if self.profile else "")

    def client(self, service: str) -> Any:
        return client(service, self.region, self.profile)


def parse_location(text: str, scheme: str) -> Location:
    """``SCHEME://REGION[?profile=NAME]``, checked; nothing is asked of AWS here."""
    parts = urlsplit(text.strip())
    example = f"{scheme}://eu-west-1 or {scheme}://eu-west-1?profile=prod"
    if parts.scheme != scheme or parts.path not in ("", "/") or parts.username or parts.password or parts.port:
        raise InvalidInput(f"Give an AWS region as {example}.")
    region = parts.hostname or ""
    if not region or not all(p.isalnum() for p in region.split("-")) or region.count("-") < 2:
        raise InvalidInput(f"'{region}' is not an AWS region name: give one such as {example}.")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(query) - {"profile"})
    if unknown:
        raise InvalidInput(f"Unknown option {', '.join(unknown)} in the location: only ?profile=NAME is understood.")
    profile = query.get("profile") or None
    if "profile" in query and not profile:
        raise InvalidInput("The profile is empty: give ?profile=NAME (a profile of your AWS config), or leave it out.")
    return Location(scheme, region, profile)


def endpoint_url(service: str) -> str | None:
    """The endpoint override the AWS tools honour: ``AWS_ENDPOINT_URL_<SERVICE>``, then ``AWS_ENDPOINT_URL``."""
    return os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}") or os.environ.get("AWS_ENDPOINT_URL") or None


def client(service: str, region: str, profile: str | None = None) -> Any:
    """A boto3 client for ``service`` in ``region``, credentials found the standard way (never stored)."""
    try:
        session = boto3.session.Session(profile_name=profile, region_name=region)
    except botocore.exceptions.ProfileNotFound:
        raise AWSError(
            f"No AWS profile named '{profile}' in your AWS config: create it (`aws configure --profile {profile}`) "
            "or register the server without ?profile=.",
            title="AWS profile not found",
        ) from None
    config = botocore.config.Config(
        retries={"mode": "standard", "total_max_attempts": 3},
        connect_timeout=10,
        read_timeout=60,
        user_agent_extra="changeover",
    )
    return session.client(service, region_name=region, endpoint_url=endpoint_url(service), config=config)  # type: ignore[call-overload]


def _permission(client: Any, operation: str) -> str:
    prefix = getattr(getattr(client, "meta", None), "service_model", None)
    service = getattr(prefix, "signing_name", None) or getattr(prefix, "endpoint_prefix", None) or "aws"
    return f"{service}:{operation}"


def in_words(exc: BaseException, client: Any, operation: str, doing: str) -> AWSError:
    """An AWS failure as one sentence naming what was refused and the fix (no secret: AWS sends none)."""
    permission = _permission(client, operation)
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        text = str(error.get("Message", "")).strip().rstrip(".")
        if code in ACCESS_DENIED or "AccessDenied" in code:
            return AWSError(
                f"AWS refused to {doing}: your AWS identity lacks the permission {permission} ({code}). "
                f"Allow {permission} in its IAM policy, or use a profile that has it.",
                code=code,
                title="AWS access denied",
            )
        if code in THROTTLING:
            return AWSError(
                f"AWS kept throttling the requests to {doing} ({code}) after {THROTTLE_ATTEMPTS} tries: wait a "
                "minute and try again, or ask AWS support to raise the API rate limit.",
                code=code,
                title="AWS throttled the requests",
            )
        if "QuotaExceeded" in code or "LimitExceeded" in code:
            return AWSError(
                f"AWS refused to {doing}: an account quota is reached ({code}: {text}). Free some capacity or "
                "ask for a higher quota in the AWS console (Service Quotas).",
                code=code,
                title="AWS quota reached",
            )
        return AWSError(f"AWS refused to {doing}: {text or code} ({code}).", code=code)
    if isinstance(exc, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError):
        return AWSError(
            f"No AWS credentials were found to {doing}: set AWS_PROFILE or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, run `aws sso login`, or register the server with ?profile=NAME.",
            title="No AWS credentials",
        )
    if isinstance(exc, botocore.exceptions.EndpointConnectionError | botocore.exceptions.ConnectTimeoutError):
        model = getattr(getattr(client, "meta", None), "service_model", None)
        where = endpoint_url(str(getattr(model, "service_name", ""))) or "AWS"
        return AWSError(
            f"Cannot reach {where} to {doing}: check the network (and AWS_ENDPOINT_URL if you set it).",
            title="AWS unreachable",
        )
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return AWSError(f"AWS could not {doing}: {exc}.")
    raise exc


def call(client: Any, operation: str, doing: str, **params: Any) -> Any:
    """``client.<operation>(**params)``, throttling retried with exponential backoff; failures in words.

    ``operation`` is the API's own name (``CreateDBInstance``), which is also the IAM action named when
    the call is denied.
    """
    method = getattr(client, botocore_name(operation))
    for attempt in range(1, THROTTLE_ATTEMPTS + 1):
        try:
            return method(**params)
        except botocore.exceptions.ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in THROTTLING and attempt < THROTTLE_ATTEMPTS:
                delay = min(THROTTLE_BASE_SECONDS * 2 ** (attempt - 1), THROTTLE_MAX_SECONDS)
                delay *= random.uniform(0.5, 1.0)  # jitter, so many clients do not retry in step
                logger.info("AWS throttled %s (%s); retry %d in %.1f s", operation, code, attempt, delay)
                sleep(delay)
                continue
            raise in_words(exc, client, operation, doing) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise in_words(exc, client, operation, doing) from None
    raise AssertionError("unreachable")  # pragma: no cover


def botocore_name(operation: str) -> str:
    """``CreateDBInstance`` -> ``create_db_instance`` (botocore's own conversion)."""
    return str(botocore.xform_name(operation))
