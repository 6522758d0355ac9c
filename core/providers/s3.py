"""Amazon S3 as a "server": an AWS account and region where Changeover makes and removes buckets.

Register it with ``changeover server add NAME s3://REGION`` (``?profile=NAME`` for a named AWS profile);
credentials come from the standard AWS chain and are never stored. A provisioned bucket is named after the
resource with a short random suffix (bucket names are global), and is made private and kept safe: every
public-access block on, versioning on, default encryption (SSE-S3), tags naming Changeover and the resource.
Its handle carries no keys (``s3://orders-files-1a2b3c?region=eu-west-1``): the app reaches it with its
own role, as Changeover's checks do.

Removing a bucket that still holds objects (or older versions of them) is refused unless the admin asks
for the contents to be deleted too; then every version and delete marker goes, then the bucket.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy.engine import URL

from .. import handles
from .base import Connection, ProviderError

logger = logging.getLogger(__name__)

KIND = "s3"
LABEL = "Amazon S3 (buckets)"
EXAMPLE = "s3://eu-west-1"
_PUBLIC_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


def bucket_name(base: str) -> str:
    """A bucket name for a resource: lower case, digits and '-', 3 to 63 characters, with a random suffix."""
    stem = "".join(c if c.isalnum() else "-" for c in base.lower()).strip("-")[:48] or "bucket"
    return f"{stem}-{secrets.token_hex(3)}"


def bucket_of(handle_text: str) -> str:
    """The bucket an ``s3://`` handle names."""
    return urlsplit(handle_text).hostname or ""


class S3Provider:
    """Makes and removes buckets in one region of the account the AWS credentials belong to."""

    kind = KIND
    has_plans = False
    keeps_secrets = False  # a bucket's handle holds no keys: nothing goes to the keyring

    def __init__(self, region: str, profile: str | None = None) -> None:
        self.region = region
        self.profile = profile
        self._client: Any = None
        self.made: dict[str, str] = {}  # database name given to provision -> bucket made

    @classmethod
    def at(cls, handle: handles.Handle) -> S3Provider:
        """The provider an ``s3://REGION[?profile=NAME]`` server handle names."""
        parts = urlsplit(handle.full())
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        region = parts.hostname or ""
        if not region or parts.path.strip("/"):
            raise ProviderError(f"Give an S3 server as s3://REGION, for example {EXAMPLE} (no bucket).")
        return cls(region, query.get("profile"))

    @property
    def s3(self) -> Any:
        from .. import aws

        if self._client is None:
            self._client = aws.client("s3", self.region, self.profile)
        return self._client

    def server_version(self) -> str:
        from .. import aws

        with aws.translated(f"reach AWS in {self.region}", "sts:GetCallerIdentity"):
            account = aws.client("sts", self.region, self.profile).get_caller_identity()["Account"]
        return f"S3 in {self.region}, account {account}"

    def database_url(self, database: str) -> URL:
        raise ProviderError("An S3 bucket is not a database: it has no database URL.")

    def open_connections(self, database: str) -> list[Connection]:
        return []

    def set_password(self, user: str, password: str) -> None:
        raise ProviderError("An S3 bucket has no user or password: its handle holds no keys to rotate.")

    def provision(self, database: str, user: str, password: str, *, plan: str | None = None) -> handles.Handle:
        """Make a private, versioned, encrypted bucket tagged for ``database``; return its handle (no keys)."""
        from .. import aws

        bucket = bucket_name(database)
        where = {} if self.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": self.region}}
        with aws.translated(f"create the bucket {bucket} in {self.region}", "s3:CreateBucket"):
            self.s3.create_bucket(Bucket=bucket, **where)
        try:
            with aws.translated(f"block public access to {bucket}", "s3:PutBucketPublicAccessBlock"):
                self.s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=_PUBLIC_BLOCK)
            with aws.translated(f"turn on versioning of {bucket}", "s3:PutBucketVersioning"):
                self.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            with aws.translated(f"turn on encryption of {bucket}", "s3:PutEncryptionConfiguration"):
                self.s3.put_bucket_encryption(
                    Bucket=bucket,
                    ServerSideEncryptionConfiguration={
                        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                    },
                )
            with aws.translated(f"tag {bucket}", "s3:PutBucketTagging"):
                tags = [{"Key": "managed-by", "Value": "changeover"}, {"Key": "changeover-resource", "Value": database}]
                self.s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
        except BaseException:
            self.drop_bucket(bucket, delete_contents=False)
            raise
        self.made[database] = bucket
        logger.info("created bucket %s in %s", bucket, self.region)
        return handles.parse(f"s3://{bucket}?region={self.region}")

    def deprovision(self, database: str, user: str | None) -> None:
        """Remove the bucket :meth:`provision` made for ``database`` (if it is empty)."""
        bucket = self.made.pop(database, "")
        if bucket:
            self.drop_bucket(bucket, delete_contents=False)

    def object_count(self, bucket: str, *, at_most: int = 1000) -> int:
        """How many object versions and delete markers ``bucket`` holds (counting stops at ``at_most``)."""
        from .. import aws

        with aws.translated(f"list the objects of {bucket}", "s3:ListBucketVersions"):
            try:
                page = self.s3.list_object_versions(Bucket=bucket, MaxKeys=at_most)
            except Exception as exc:
                if aws.error_code(exc) == "NoSuchBucket":
                    return 0
                raise
        return min(at_most, len(page.get("Versions", [])) + len(page.get("DeleteMarkers", [])))

    def drop_bucket(self, bucket: str, *, delete_contents: bool) -> int:
        """Remove ``bucket`` (already gone is fine); with ``delete_contents`` every version in it first.

        Returns how many object versions and delete markers were deleted.
        """
        from .. import aws

        deleted = 0
        if delete_contents:
            with aws.translated(f"delete the objects of {bucket}", "s3:ListBucketVersions and s3:DeleteObjectVersion"):
                pages = self.s3.get_paginator("list_object_versions").paginate(Bucket=bucket)
                try:
                    for page in pages:
                        batch = [
                            {"Key": v["Key"], "VersionId": v["VersionId"]}
                            for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
                        ]
                        if batch:
                            self.s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
                            deleted += len(batch)
                except Exception as exc:
                    if aws.error_code(exc) != "NoSuchBucket":
                        raise
        with aws.translated(f"delete the bucket {bucket}", "s3:DeleteBucket"):
            try:
                self.s3.delete_bucket(Bucket=bucket)
            except Exception as exc:
                code = aws.error_code(exc)
                if code == "BucketNotEmpty":
                    raise ProviderError(
                        f"The bucket {bucket} is not empty: delete its contents first (or ask for it)."
                    ) from None
                if code != "NoSuchBucket":
                    raise
        logger.info("deleted bucket %s (%d object versions)", bucket, deleted)
        return deleted
