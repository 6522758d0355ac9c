"""S3 buckets as resources: registered without keys, provisioned on an ``s3://REGION`` server, checked, removed."""

from __future__ import annotations

import io
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from changeover.cli import main
from changeover.core import checks, servers
from changeover.core.aws import AWSError
from changeover.core.errors import Conflict, InvalidInput
from changeover.core.providers.s3 import S3Provider
from changeover.core.workspace import Workspace

from .conftest import REGION


def test_an_existing_bucket_is_registered_and_checked_without_keys(
    aws: str, workspace: Workspace, memory_keyring: object
) -> None:
    """The handle holds no keys: the check uses the default AWS chain, as an app with an instance role would."""
    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket="shop-files", CreateBucketConfiguration={"LocationConstraint": REGION})
    info = workspace.register_resource("files", f"s3://shop-files?region={REGION}")
    assert info.kind == "s3" and info.handle == f"s3://shop-files?region={REGION}"
    assert memory_keyring.items == {}, "nothing to keep in the keyring"  # type: ignore[attr-defined]
    workspace.register_resource("gone", f"s3://no-such-bucket?region={REGION}")

    results = {r.resource: r for r in checks.check_resources(workspace, ["files", "gone"])}
    assert results["files"].ok, results["files"].reason
    assert results["gone"].failed and "No bucket named 'no-such-bucket'" in results["gone"].reason


def test_provision_attach_check_and_deprovision_a_bucket(aws: str, workspace: Workspace, tmp_path: Path) -> None:
    server = workspace.register_server("aws-eu", f"s3://{REGION}")
    assert server.kind == "s3" and server.version == f"S3 in {REGION}, account 123456789012"
    info = workspace.provision("aws-eu", "orders-files")
    bucket = info.handle.removeprefix("s3://").split("?")[0]
    assert bucket.startswith("orders-files-") and info.handle == f"s3://{bucket}?region={REGION}"

    client = boto3.client("s3", region_name=REGION)
    block = client.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert block == dict.fromkeys(
        ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
    )
    assert client.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    rules = client.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    tags = {t["Key"]: t["Value"] for t in client.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    assert tags == {"managed-by": "changeover", "changeover-resource": "orders_files"}
    assert client.get_bucket_location(Bucket=bucket)["LocationConstraint"] == REGION

    env = tmp_path / ".env"
    env.write_text("")
    workspace.add_deploy("shop", str(env))
    workspace.attach("orders-files", "shop")
    assert env.read_text() == f"S3_URL='s3://{bucket}?region={REGION}'\n"
    assert checks.check_resources(workspace, ["orders-files"])[0].ok
    workspace.detach("orders-files", "shop")

    client.put_object(Bucket=bucket, Key="invoice.pdf", Body=b"%PDF")
    client.delete_object(Bucket=bucket, Key="invoice.pdf")  # a delete marker and an older version remain
    with pytest.raises(InvalidInput, match="confirmation does not match"):
        workspace.deprovision("orders-files", "orders", delete_contents=True)
    with pytest.raises(Conflict, match=r"still holds 2 object version\(s\).*--delete-contents"):
        workspace.deprovision("orders-files", "orders-files")
    assert client.head_bucket(Bucket=bucket)
    done = workspace.deprovision("orders-files", "orders-files", delete_contents=True)
    assert done.state == "deprovisioned"
    assert bucket not in [b["Name"] for b in client.list_buckets()["Buckets"]]
    assert "deleted bucket" in workspace.events("orders-files")[0].detail

    empty = workspace.provision("aws-eu", "scratch").handle.removeprefix("s3://").split("?")[0]
    workspace.deprovision("scratch", "scratch")
    assert empty not in [b["Name"] for b in client.list_buckets()["Buckets"]]
    assert workspace.show_server("aws-eu").resources == ()


def test_a_failed_provision_leaves_no_bucket(aws: str, workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    workspace.register_server("aws-eu", f"s3://{REGION}")

    client = boto3.client("s3", region_name=REGION)
    monkeypatch.setattr(S3Provider, "s3", property(lambda self: _Refusing(client)))
    with pytest.raises(AWSError, match="tagging refused"):
        workspace.provision("aws-eu", "orders-files")
    assert client.list_buckets()["Buckets"] == []
    assert [r.name for r in workspace.list_resources("all")] == []


class _Refusing:
    """The real client, except that tagging a bucket is refused (as an IAM policy without the right would)."""

    def __init__(self, client: object) -> None:
        self.client = client

    def put_bucket_tagging(self, **kwargs: object) -> None:
        raise AWSError("AWS denied access: tagging refused.")

    def __getattr__(self, name: str) -> object:
        return getattr(self.client, name)


def test_server_locations_are_checked() -> None:
    with pytest.raises(InvalidInput):
        servers.parse_server_location("s3://")
    with pytest.raises(Exception, match=r"s3://REGION"):
        servers.parse_server_location("s3://eu-west-1/some-bucket")
    kind, _ = servers.parse_server_location("s3://eu-west-1?profile=team")
    assert kind == "s3" and ("s3", "Amazon S3 (buckets)", "s3://eu-west-1") in servers.KIND_CHOICES


def test_access_denied_is_said_with_the_permission() -> None:
    provider = S3Provider(REGION)
    with Stubber(provider.s3) as stub:
        stub.add_client_error("create_bucket", "AccessDenied", "Access Denied", 403)
        with pytest.raises(AWSError, match=r"needs the IAM permission s3:CreateBucket"):
            provider.provision("orders", "orders", "unused")
        stub.add_client_error("list_object_versions", "SlowDown", "Please reduce your request rate", 503)
        with pytest.raises(AWSError, match="kept throttling"):
            provider.object_count("orders-1a2b3c")


def test_the_command_line(aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHANGEOVER_DATABASE_URL", f"sqlite:///{tmp_path / 'inv.sqlite3'}")

    def run(*argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        return main(list(argv), out, err), out.getvalue(), err.getvalue()

    code, out, err = run("server", "add", "aws-eu", f"s3://{REGION}")
    assert code == 0, err
    code, out, err = run("provision", "aws-eu", "files")
    assert code == 0 and "Provisioned files on aws-eu: s3://files-" in out, err
    bucket = out.split("s3://")[1].split("?")[0]
    boto3.client("s3", region_name=REGION).put_object(Bucket=bucket, Key="a", Body=b"a")
    code, out, err = run("check", "files")
    assert code == 0, out + err
    code, _, err = run("deprovision", "files", "--confirm", "files")
    assert code == 1 and "--delete-contents" in err
    code, _, err = run("deprovision", "files", "--confirm", "files", "--delete-contents")
    assert code == 0, err
