"""A deploy whose config lives in SSM Parameter Store: attach, detach, replace, history, hooks, import, errors."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from changeover.cli import main
from changeover.core import handles
from changeover.core.aws import AWSError
from changeover.core.configstores import SsmStore, open_store
from changeover.core.errors import ConfigStoreError, HookError, InvalidInput
from changeover.core.workspace import Workspace

from .conftest import REGION

PASSWORD = "ssm-s3cret-pw"
CACHE = f"redis://:{PASSWORD}@cache.internal:6379/0"
CACHE_2 = "redis://:other-s3cret@cache-2.internal:6379/0"
PREFIX = "/shop/prod"


def parameter(name: str) -> dict[str, object]:
    return boto3.client("ssm", region_name=REGION).get_parameter(Name=name, WithDecryption=True)["Parameter"]


def history(name: str) -> list[str]:
    client = boto3.client("ssm", region_name=REGION)
    return [str(p["Value"]) for p in client.get_parameter_history(Name=name, WithDecryption=True)["Parameters"]]


def names() -> set[str]:
    client = boto3.client("ssm", region_name=REGION)
    found = client.get_parameters_by_path(Path=PREFIX, Recursive=True)["Parameters"]
    return {str(p["Name"]) for p in found}


def test_attach_and_detach_write_secure_parameters_with_history(aws: str, workspace: Workspace, tmp_path: Path) -> None:
    marker = tmp_path / "restarts"
    boto3.client("ssm", region_name=REGION).put_parameter(Name=f"{PREFIX}/DEBUG", Value="1", Type="String")
    info = workspace.add_deploy(
        "shop", ssm_path=PREFIX, region=REGION, restart_cmd=f"echo restarted >> {marker}", maintenance_var="MAINT"
    )
    assert info.config_kind == "ssm" and info.config_location == f"ssm://{PREFIX}?region={REGION}"
    workspace.register_resource("cache", CACHE)
    workspace.register_resource("cache-2", CACHE_2)

    workspace.attach("cache", "shop")
    written = parameter(f"{PREFIX}/REDIS_URL")
    assert written["Type"] == "SecureString" and written["Value"] == CACHE
    assert marker.read_text() == "restarted\n"
    shown = {v.name: v.value for v in workspace.deploy_config("shop")}
    assert shown == {"DEBUG": "1", "REDIS_URL": handles.parse(CACHE).masked()}

    workspace.attach("cache-2", "shop", env_var="REDIS_URL", replace=True)
    assert parameter(f"{PREFIX}/REDIS_URL")["Value"] == CACHE_2
    assert history(f"{PREFIX}/REDIS_URL") == [CACHE, CACHE_2], "the previous value is the parameter's history"

    workspace.set_maintenance("shop", True)
    flag = parameter(f"{PREFIX}/MAINT")
    assert flag["Type"] == "String" and flag["Value"] == "1", "a value without a secret stays plain"
    workspace.set_maintenance("shop", False)

    workspace.detach("cache-2", "shop")
    assert names() == {f"{PREFIX}/DEBUG"}
    assert marker.read_text().count("restarted") == 5
    assert PASSWORD not in " ".join(e.detail for e in workspace.events())


def test_the_restart_hook_runs_after_the_parameter_is_written(
    moto_endpoint: str, workspace: Workspace, tmp_path: Path
) -> None:
    """The hook is a child process reading the parameter from the same AWS endpoint: it sees the new value."""
    seen = tmp_path / "seen"
    read = (
        "import boto3; p = boto3.client('ssm', region_name='eu-west-1').get_parameter("
        f"Name='{PREFIX}/REDIS_URL', WithDecryption=True)['Parameter']; "
        f"open('{seen}', 'w').write(p['Type'] + ' ' + str(p['Version']))"
    )
    workspace.add_deploy("shop", ssm_path=PREFIX, region=REGION, restart_cmd=f'{sys.executable} -c "{read}"')
    workspace.register_resource("cache", CACHE)
    workspace.attach("cache", "shop")
    assert seen.read_text() == "SecureString 1"


def test_a_failing_restart_puts_the_parameters_back(aws: str, workspace: Workspace, tmp_path: Path) -> None:
    workspace.add_deploy("shop", ssm_path=PREFIX, region=REGION, restart_cmd="true")
    workspace.register_resource("cache", CACHE)
    workspace.register_resource("cache-2", CACHE_2)
    workspace.attach("cache", "shop")
    workspace.edit_deploy("shop", restart_cmd="exit 3")

    with pytest.raises(HookError, match="undone"):
        workspace.attach("cache-2", "shop", env_var="REDIS_URL", replace=True)
    assert parameter(f"{PREFIX}/REDIS_URL")["Value"] == CACHE
    assert parameter(f"{PREFIX}/REDIS_URL")["Type"] == "SecureString"
    with pytest.raises(HookError):
        workspace.attach("cache-2", "shop", env_var="OTHER_REDIS_URL")
    assert names() == {f"{PREFIX}/REDIS_URL"}, "a parameter the failed change created is deleted again"
    assert [a.resource for a in workspace.show_deploy("shop").attachments] == ["cache"]


def test_import_a_deploy_from_an_ssm_path(aws: str, workspace: Workspace) -> None:
    client = boto3.client("ssm", region_name=REGION)
    client.put_parameter(Name=f"{PREFIX}/REDIS_URL", Value=CACHE, Type="SecureString")
    client.put_parameter(Name=f"{PREFIX}/LOG_LEVEL", Value="info", Type="String")
    client.put_parameter(Name=f"{PREFIX}/nested/IGNORED_URL", Value=CACHE_2, Type="String")

    preview = workspace.import_deploy("shop", ssm_path=PREFIX, region=REGION, dry_run=True)
    assert preview.dry_run and [(v, r) for v, r in preview.attached] == [("REDIS_URL", "shop-redis-url")]
    assert workspace.list_deploys() == []

    result = workspace.import_deploy("shop", ssm_path=PREFIX, region=REGION)
    assert result.attached == (("REDIS_URL", "shop-redis-url"),)
    assert workspace.full_handle("shop-redis-url") == CACHE
    assert workspace.show_deploy("shop").config_kind == "ssm"


def test_the_command_line_adds_an_ssm_deploy(aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHANGEOVER_DATABASE_URL", f"sqlite:///{tmp_path / 'inv.sqlite3'}")

    def run(*argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        return main(list(argv), out, err), out.getvalue(), err.getvalue()

    code, out, err = run("deploy", "add", "shop", "--ssm-path", PREFIX, "--region", REGION, "--restart-cmd", "true")
    assert code == 0, err
    assert run("resource", "add", "cache", CACHE)[0] == 0
    assert run("attach", "cache", "shop")[0] == 0
    code, out, _ = run("deploy", "show", "shop")
    assert f"ssm ssm://{PREFIX}?region={REGION}" in out and PASSWORD not in out
    assert run("detach", "cache", "shop")[0] == 0
    assert names() == set()

    code, _, err = run("deploy", "add", "other", "--ssm-path", PREFIX)
    assert code == 1 and "--region" in err
    code, _, err = run("deploy", "add", "other", "--ssm-path", "shop/prod", "--region", REGION)
    assert code == 1 and "must start with '/'" in err
    code, _, err = run("deploy", "add", "other", "--env-file", str(tmp_path / ".env"), "--ssm-path", PREFIX)
    assert code == 2


def test_bad_paths_and_values_are_refused_before_anything_is_written(aws: str) -> None:
    for bad in ("/", "/a//b", "/aws/x", "/a b", "/app/"):
        with pytest.raises(InvalidInput):
            SsmStore(bad, region=REGION)
    store = SsmStore(PREFIX, region=REGION)
    with pytest.raises(ConfigStoreError, match="empty value"):
        store.apply({"A": ""})
    with pytest.raises(ConfigStoreError, match="4096"):
        store.apply({"A": "x" * 5000})
    assert store.read() == {}
    assert open_store("ssm", store.location).read() == {}


def test_access_denied_and_throttling_are_said_in_words() -> None:
    store = SsmStore(PREFIX, region=REGION)
    with Stubber(store.ssm) as stub:
        stub.add_client_error("get_parameters_by_path", "AccessDeniedException", "User: arn:aws:iam::1:user/x", 400)
        with pytest.raises(AWSError, match=r"needs the IAM permission ssm:GetParametersByPath") as denied:
            store.read()
        assert "arn:aws" not in denied.value.message
        stub.add_response("get_parameters_by_path", {"Parameters": []})
        stub.add_client_error("put_parameter", "ThrottlingException", "Rate exceeded", 400)
        with pytest.raises(AWSError, match="kept throttling") as throttled:
            store.apply({"LOG_LEVEL": "debug"})
        assert "wait a minute and try again" in throttled.value.message


def test_no_credentials_is_said_in_words(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var)
    with pytest.raises(AWSError, match="no AWS credentials were found"):
        SsmStore(PREFIX, region=REGION).read()


def test_swap_and_replace_secret_work_on_an_ssm_deploy(aws: str, workspace: Workspace, tmp_path: Path) -> None:
    marker = tmp_path / "restarts"
    workspace.add_deploy("shop", ssm_path=PREFIX, region=REGION, restart_cmd=f"echo restarted >> {marker}")
    workspace.register_resource("stripe", "sk_live_first_s3cret", kind="apikey")
    workspace.register_resource("stripe-2", "sk_live_second_s3cret", kind="apikey")
    workspace.attach("stripe", "shop", env_var="STRIPE_API_KEY")
    assert parameter(f"{PREFIX}/STRIPE_API_KEY")["Type"] == "SecureString"

    workspace.swap("stripe", "stripe-2")
    assert parameter(f"{PREFIX}/STRIPE_API_KEY")["Value"] == "sk_live_second_s3cret"
    workspace.set_resource_secret("stripe-2", "sk_live_third_s3cret")
    assert history(f"{PREFIX}/STRIPE_API_KEY") == [
        "sk_live_first_s3cret",
        "sk_live_second_s3cret",
        "sk_live_third_s3cret",
    ]
    assert marker.read_text().count("restarted") == 3
    assert "s3cret" not in " ".join(e.detail for e in workspace.events())
