"""Amazon Web Services plumbing, one seam for every AWS part of Changeover: clients, retries, errors in words.

Credentials are never Changeover's: a client is made from a boto3 session (an optional named profile, else
the environment, the shared files, SSO or an instance or task role, as the AWS CLI finds them), or from the
keys a handle carries, for one region. ``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_<SERVICE>``) points every
client at another endpoint (moto, LocalStack); moto's in-process ``mock_aws`` works as well.

One retry policy: throttling and transient errors are retried up to :data:`THROTTLE_ATTEMPTS` tries in all,
with exponential backoff and jitter capped at :data:`THROTTLE_MAX_SECONDS`. botocore's *standard* mode does it
for every call over HTTP; :func:`call` does the same itself for an answer botocore did not retry (a Stubber's).

One way to say what failed: :func:`in_words` turns what boto3 raises into :class:`AWSError`, whose message
names what was refused, the IAM permission it needs and what to do, never a secret. Code that calls a client
itself wraps the calls in :func:`translated`; code that names the API operation uses :func:`call`.
"""

from __future__ import annotations

import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import boto3
import boto3.exceptions
import botocore
import botocore.config
import botocore.exceptions as bx

from .errors import ChangeoverError, InvalidInput

logger = logging.getLogger(__name__)

__all__ = ["AWSError", "Location", "call", "client", "error_code", "in_words", "parse_location", "translated"]


class AWSError(ChangeoverError):
    """AWS refused or could not be reached; the message names the action and the fix, never a secret.

    ``code`` is AWS's error code ("" when AWS gave none: no credentials, no answer)."""

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
#: error codes that mean the identity lacks a permission (or is not a valid identity at all)
ACCESS_DENIED = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "NotAuthorized",
        "AuthorizationError",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "403",
    }
)
#: error codes that mean the session's temporary credentials ran out
EXPIRED = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"})
#: error codes of KMS refusing the key behind an encrypted value
KMS = frozenset(
    {"KMSAccessDeniedException", "KMSDisabledException", "KMSInvalidStateException", "KMSNotFoundException"}
)

THROTTLE_ATTEMPTS = 6  # tries of one call in all while AWS throttles it or does not answer
THROTTLE_BASE_SECONDS = 0.5  # first backoff; doubled each time, with jitter, at most THROTTLE_MAX_SECONDS
THROTTLE_MAX_SECONDS = 20.0  # botocore's standard mode caps its backoff at the same 20 s
TIMEOUT = 20.0  # seconds to connect, and to wait for an answer

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


# -- clients ------------------------------------------------------------------------------------------------

_sessions: dict[tuple[str, ...], boto3.session.Session] = {}
_sessions_lock = threading.Lock()


def _files() -> tuple[str, ...]:
    """What the AWS config and credentials files are now (absent, or their size and modification time)."""
    seen = []
    for var, default in (("AWS_CONFIG_FILE", "~/.aws/config"), ("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials")):
        try:
            found = os.stat(os.path.expanduser(os.environ.get(var) or default))
            seen.append(f"{found.st_size}:{found.st_mtime_ns}")
        except OSError:
            seen.append("-")
    return tuple(seen)


def _session(profile: str | None) -> boto3.session.Session:
    """One boto3 session per profile and AWS environment: its loaded service models make a client cheap
    (30 ms instead of 450). The environment and the AWS config and credentials files (their size and time)
    are part of the key, so a changed variable or a profile edited or removed is seen at the next client.
    Sessions are not thread-safe: hold ``_sessions_lock`` while using one."""
    key = (profile or "", *sorted(f"{k}={v}" for k, v in os.environ.items() if k.startswith("AWS_")), *_files())
    session = _sessions.get(key)
    if session is None:
        session = _sessions[key] = boto3.session.Session(profile_name=profile or None)
    return session


def client(
    service: str,
    region: str,
    profile: str | None = None,
    *,
    keys: tuple[str, str] | None = None,
    endpoint: str | None = None,
    timeout: float = TIMEOUT,
    attempts: int = THROTTLE_ATTEMPTS,
) -> Any:
    """A boto3 client for ``service`` in ``region``: with ``keys`` (access key id, secret key) when a handle
    carries them, else ``profile`` or the standard credential chain (never stored).

    ``endpoint`` overrides ``AWS_ENDPOINT_URL`` (an S3-compatible store named in a handle; S3 is then
    addressed path-style). ``attempts`` below :data:`THROTTLE_ATTEMPTS` is for a health check that should
    say what it saw at once."""
    if not region:
        raise AWSError(f"No AWS region given for {service}: name one, for example eu-west-1.", title="No AWS region")
    config = botocore.config.Config(
        connect_timeout=timeout,
        read_timeout=timeout,
        retries={"mode": "standard", "total_max_attempts": attempts},
        user_agent_extra="changeover",
        s3={"addressing_style": "path"} if endpoint else None,
    )
    with translated(f"reach AWS {service} in {region}"), _sessions_lock:
        session = (
            boto3.session.Session(aws_access_key_id=keys[0], aws_secret_access_key=keys[1])
            if keys
            else _session(profile)
        )
        return session.client(
            service,  # type: ignore[call-overload]
            region_name=region,
            endpoint_url=endpoint or endpoint_url(service),
            config=config,
        )


# -- errors in words ----------------------------------------------------------------------------------------


def error_code(exc: BaseException) -> str:
    """The AWS error code of a :class:`botocore.exceptions.ClientError` ("" for anything else)."""
    if isinstance(exc, bx.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def permission_of(client: Any, operation: str) -> str:
    """The IAM action an API operation needs: ``rds:CreateDBInstance``."""
    model = getattr(getattr(client, "meta", None), "service_model", None)
    service = getattr(model, "signing_name", None) or getattr(model, "endpoint_prefix", None) or "aws"
    return f"{service}:{operation}"


def _where(exc: BaseException, service: str) -> str:
    """The endpoint that did not answer, as the user set it (or as boto3 chose it)."""
    chosen = endpoint_url(service) if service else None
    if chosen:
        return chosen
    url = urlsplit(str(getattr(exc, "kwargs", {}).get("endpoint_url", "")))
    return f"{url.scheme}://{url.netloc}" if url.netloc else "the AWS endpoint"


#: what the SDK raises before AWS answers, in words: (exceptions, message of {doing} {where} {profile}, title)
_SDK_WORDS: tuple[tuple[tuple[type[Exception], ...], str, str], ...] = (
    (
        (bx.ProfileNotFound,),
        "No AWS profile named '{profile}' in your AWS config: check the name (`aws configure list-profiles`), "
        "create it (`aws configure --profile {profile}`), or leave ?profile= out.",
        "AWS profile not found",
    ),
    (
        (bx.NoCredentialsError, bx.PartialCredentialsError),
        "No AWS credentials were found to {doing}: set AWS_PROFILE (or ?profile=NAME), or AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY, sign in with `aws sso login`, or run where an instance or task role applies "
        "(no AWS credentials were found in any of these places).",
        "No AWS credentials",
    ),
    (
        (bx.TokenRetrievalError, bx.UnauthorizedSSOTokenError),
        "Could not {doing}: the AWS SSO session has expired. Run `aws sso login` (with --profile if you use one) "
        "and try again.",
        "AWS sign-in expired",
    ),
    (
        (bx.SSOTokenLoadError,),
        "Could not {doing}: the AWS profile signs in with SSO and there is no SSO session yet. Run `aws sso login` "
        "(with --profile if you use one) and try again.",
        "Not signed in to AWS",
    ),
    (
        (bx.NoRegionError,),
        "Could not {doing}: no AWS region is set. Name one (for example eu-west-1), or set AWS_REGION.",
        "No AWS region",
    ),
    (
        (bx.ConnectTimeoutError, bx.ReadTimeoutError),  # before EndpointConnectionError, their base
        "{where} did not answer in time to {doing}: check the network (and AWS_ENDPOINT_URL if you set it), then "
        "try again.",
        "AWS did not answer",
    ),
    (
        (bx.EndpointConnectionError,),
        "Cannot reach {where} to {doing}: it cannot be reached from here. Check the network, the region and "
        "AWS_ENDPOINT_URL if you set it, then try again.",
        "AWS unreachable",
    ),
)


def in_words(exc: BaseException, doing: str, permission: str = "", *, service: str = "") -> AWSError:
    """What boto3 raised while ``doing`` as one :class:`AWSError` naming what was refused and the fix.

    ``permission`` is the IAM action the work needs; ``service`` (``s3``) finds the endpoint the user set.
    AWS's own text is kept only where it names no input (a validation error may echo a value)."""
    if isinstance(exc, bx.ClientError | boto3.exceptions.S3UploadFailedError):
        return _refusal(exc, doing, permission)
    for kinds, words, title in _SDK_WORDS:
        if isinstance(exc, kinds):
            profile = str(getattr(exc, "kwargs", {}).get("profile", ""))
            return AWSError(words.format(doing=doing, where=_where(exc, service), profile=profile), title=title)
    logger.warning("AWS call failed while trying to %s: %s", doing, type(exc).__name__)
    return AWSError(f"AWS could not {doing}: {type(exc).__name__} from the AWS SDK; try again.")


def _refusal(exc: BaseException, doing: str, permission: str) -> AWSError:
    if isinstance(exc, bx.ClientError):
        code = error_code(exc)
        text = str(exc.response.get("Error", {}).get("Message", "")).strip().rstrip(".")
    else:  # boto3's transfer manager wraps the ClientError of an upload in its own text
        found = re.search(r"An error occurred \((\w+)\)", str(exc))
        code, text = (found.group(1) if found else ""), ""
    logger.warning("AWS refused to %s: %s", doing, code)
    if code in ACCESS_DENIED or ("AccessDenied" in code and code not in KMS):
        lacks = (
            f"needs the IAM permission {permission}, and it lacks the permission {permission} ({code}). "
            f"Allow {permission} in its IAM policy"
            if permission
            else f"is not allowed to do that ({code}). Ask your AWS administrator for the permission"
        )
        return AWSError(
            f"AWS refused to {doing}: your AWS identity {lacks}, or use a profile that has it.",
            code=code,
            title="AWS access denied",
        )
    if code in EXPIRED:
        return AWSError(
            f"Could not {doing}: the AWS session's credentials have expired ({code}). Sign in again "
            "(`aws sso login`, or fresh keys from your administrator) and try again.",
            code=code,
            title="AWS sign-in expired",
        )
    if code in THROTTLING:
        return AWSError(
            f"AWS kept throttling the requests to {doing} ({code}) after {THROTTLE_ATTEMPTS} tries with backoff: "
            "wait a minute and try again, or ask AWS support to raise the API rate limit.",
            code=code,
            title="AWS throttled the requests",
        )
    if code in KMS:
        return AWSError(
            f"AWS KMS refused to {doing} ({code}): your identity needs kms:Decrypt / kms:Encrypt on the key, "
            "or the key is disabled.",
            code=code,
            title="AWS KMS refused",
        )
    if "QuotaExceeded" in code or "LimitExceeded" in code:
        return AWSError(
            f"AWS refused to {doing}: an account quota is reached ({code}: {text}). Free some capacity or "
            "ask for a higher quota in the AWS console (Service Quotas).",
            code=code,
            title="AWS quota reached",
        )
    if not text or "Validation" in code:
        return AWSError(f"AWS refused to {doing} ({code or 'an error without a code'}).", code=code)
    return AWSError(f"AWS refused to {doing}: {text} ({code}).", code=code)


@contextmanager
def translated(doing: str, permission: str = "", *, service: str = "") -> Iterator[None]:
    """Turn what boto3 raises while ``doing`` into :class:`AWSError`; ``permission`` is the IAM action needed.

    Errors the caller handles itself (a parameter that is not there) are caught inside the block."""
    try:
        yield
    except ChangeoverError:
        raise
    except (bx.BotoCoreError, bx.ClientError, boto3.exceptions.S3UploadFailedError) as exc:
        raise in_words(exc, doing, permission, service=service) from None


def call(client: Any, operation: str, doing: str, **params: Any) -> Any:
    """``client.<operation>(**params)`` under the one retry policy; failures in words.

    ``operation`` is the API's own name (``CreateDBInstance``), which is also the IAM action named when
    the call is denied. botocore retried a throttled answer that came over HTTP already (its metadata
    says so); one that did not (a Stubber's) is retried here the same way.
    """
    method = getattr(client, botocore_name(operation))
    service = str(getattr(getattr(getattr(client, "meta", None), "service_model", None), "service_name", ""))
    permission = permission_of(client, operation)
    for attempt in range(1, THROTTLE_ATTEMPTS + 1):
        try:
            return method(**params)
        except bx.ClientError as exc:
            retried_by_botocore = "RetryAttempts" in exc.response.get("ResponseMetadata", {})
            if error_code(exc) in THROTTLING and attempt < THROTTLE_ATTEMPTS and not retried_by_botocore:
                delay = backoff(attempt)
                logger.info("AWS throttled %s (%s); retry %d in %.1f s", operation, error_code(exc), attempt, delay)
                sleep(delay)
                continue
            raise in_words(exc, doing, permission, service=service) from None
        except bx.BotoCoreError as exc:
            raise in_words(exc, doing, permission, service=service) from None
    raise AssertionError("unreachable")  # pragma: no cover


def backoff(attempt: int) -> float:
    """Seconds to wait before try ``attempt + 1``: doubled each time from the base, capped, with jitter
    (so many clients do not retry in step)."""
    return min(THROTTLE_BASE_SECONDS * 2.0 ** (attempt - 1), THROTTLE_MAX_SECONDS) * random.uniform(0.5, 1.0)


def botocore_name(operation: str) -> str:
    """``CreateDBInstance`` -> ``create_db_instance`` (botocore's own conversion)."""
    return str(botocore.xform_name(operation))
