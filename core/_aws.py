"""One way to reach AWS for the config store, the team secret store and S3 buckets: a client, and errors in words.

Credentials are resolved the standard AWS way (a profile, the environment, SSO, an instance or task role):
Changeover never stores them. ``AWS_ENDPOINT_URL`` (and ``AWS_ENDPOINT_URL_<SERVICE>``) is honoured by boto3
itself, so LocalStack-style endpoints and moto's server work, and so does moto's in-process ``mock_aws``
(no endpoint is passed here). Calls are retried by botocore's *standard* mode (throttling and transient errors,
with backoff); what still fails becomes :class:`AwsError` whose message says what was refused and what to do,
never a secret.

Private: the merger folds this into ``core/aws.py`` beside the RDS provider's helpers.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import boto3.exceptions
import botocore.exceptions as bx
from botocore.config import Config

from .errors import ChangeoverError

logger = logging.getLogger(__name__)

#: attempts in all (the first call and its retries) for throttling and transient errors
MAX_ATTEMPTS = 5
TIMEOUT = 15.0

_DENIED = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "403",
    }
)
_THROTTLED = frozenset(
    {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded", "SlowDown"}
)
_KMS = frozenset(
    {"KMSAccessDeniedException", "KMSDisabledException", "KMSInvalidStateException", "KMSNotFoundException"}
)


class AwsError(ChangeoverError):
    """AWS refused, or could not be reached; the message names the permission or the fix."""

    title = "AWS problem"


_sessions: dict[tuple[str, ...], boto3.session.Session] = {}
_sessions_lock = threading.Lock()


def _session(profile: str | None) -> boto3.session.Session:
    """One boto3 session per profile and AWS environment: its loaded service models make a client cheap
    (30 ms instead of 450). The environment is part of the key, so a changed variable is seen. Sessions are
    not thread-safe: hold ``_sessions_lock`` while using one."""
    key = (profile or "", *sorted(f"{k}={v}" for k, v in os.environ.items() if k.startswith("AWS_")))
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
    timeout: float = TIMEOUT,
) -> Any:
    """A boto3 client for ``service`` in ``region``: with ``keys`` (access key id, secret key) when a handle
    carries them, else ``profile`` or the default credential chain."""
    if not region:
        raise AwsError(f"No AWS region given for {service}: name one, for example eu-west-1.")
    with translated(f"reach AWS {service} in {region}"), _sessions_lock:
        session = (
            boto3.session.Session(aws_access_key_id=keys[0], aws_secret_access_key=keys[1])
            if keys
            else _session(profile)
        )
        return session.client(
            service,  # type: ignore[call-overload]
            region_name=region,
            config=Config(
                connect_timeout=timeout,
                read_timeout=timeout,
                retries={"total_max_attempts": MAX_ATTEMPTS, "mode": "standard"},
            ),
        )


def error_code(exc: BaseException) -> str:
    """The AWS error code of a :class:`botocore.exceptions.ClientError` ("" for anything else)."""
    if isinstance(exc, bx.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


@contextmanager
def translated(doing: str, permission: str = "") -> Iterator[None]:
    """Turn what boto3 raises while ``doing`` into :class:`AwsError`; ``permission`` is the IAM action needed.

    Errors the caller handles itself (a parameter that is not there) are caught inside the block.
    """
    try:
        yield
    except ChangeoverError:
        raise
    except bx.ProfileNotFound as exc:
        raise AwsError(
            f"Could not {doing}: the AWS profile '{exc.kwargs.get('profile', '')}' is not in your AWS config: "
            "check the name (`aws configure list-profiles`).",
        ) from None
    except (bx.NoCredentialsError, bx.PartialCredentialsError):
        raise AwsError(
            f"Could not {doing}: no AWS credentials were found. Set AWS_PROFILE (or --profile), sign in with "
            "`aws sso login`, or run where an instance or task role applies.",
        ) from None
    except bx.TokenRetrievalError:
        raise AwsError(f"Could not {doing}: the AWS SSO session has expired; run `aws sso login` again.") from None
    except bx.NoRegionError:
        raise AwsError(f"Could not {doing}: no AWS region is set; name one, for example eu-west-1.") from None
    except bx.ClientError as exc:
        raise _client_error(exc, doing, permission) from None
    except boto3.exceptions.S3UploadFailedError as exc:  # boto3's transfer manager wraps the ClientError
        found = re.search(r"An error occurred \((\w+)\)", str(exc))
        raise _client_error(
            bx.ClientError({"Error": {"Code": found.group(1) if found else ""}}, "PutObject"), doing, permission
        ) from None
    except (bx.ConnectTimeoutError, bx.ReadTimeoutError):
        raise AwsError(
            f"Could not {doing}: AWS did not answer in time. Check the network (or AWS_ENDPOINT_URL) and try again.",
        ) from None
    except bx.EndpointConnectionError as exc:
        raise AwsError(
            f"Could not {doing}: {exc.kwargs.get('endpoint_url', 'the AWS endpoint')} cannot be reached. Check "
            "the network, the region and AWS_ENDPOINT_URL, then try again.",
        ) from None
    except bx.BotoCoreError as exc:
        logger.warning("AWS call failed while trying to %s: %s", doing, type(exc).__name__)
        raise AwsError(f"Could not {doing}: {type(exc).__name__} from the AWS SDK; try again.") from None


def _client_error(exc: bx.ClientError, doing: str, permission: str) -> AwsError:
    code = error_code(exc)
    logger.warning("AWS refused to %s: %s", doing, code)
    if code in _DENIED:
        needs = f" needs the IAM permission {permission}" if permission else " is not allowed"
        return AwsError(
            f"AWS denied access: your AWS identity{needs} to {doing} ({code}). Ask your AWS administrator to "
            "grant it, or use another profile.",
        )
    if code in _THROTTLED:
        return AwsError(
            f"AWS kept throttling the requests to {doing} ({code}), even after {MAX_ATTEMPTS} attempts with "
            "backoff: wait a minute and try again.",
        )
    if code in _KMS:
        return AwsError(
            f"AWS KMS refused to {doing} ({code}): your identity needs kms:Decrypt / kms:Encrypt on the key, "
            "or the key is disabled.",
        )
    return AwsError(f"AWS refused to {doing} ({code or 'an error without a code'}).")
