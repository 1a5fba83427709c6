"""The local stack as `make up` runs it: ready, routed like API Gateway, and keeping its data."""

import os
import stat
import subprocess
import sys
import time
import uuid

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e


def login(stack: Stack) -> dict[str, str]:
    r = httpx.post(f"{stack.base_url}/api/v1/users/login/token/",
                   data={"username": stack.admin_email, "password": stack.admin_password}, timeout=30)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.mark.parametrize("function", ["auth", "spaces"])
def test_health_routes_answer(stack: Stack, function: str) -> None:
    r = httpx.get(f"{stack.base_url}/api/v1/health/{function}", timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["x-request-id"]


@pytest.mark.parametrize(("function", "paths"), [
    ("auth", {"/api/v1/sysadmin/tenants/", "/api/v1/users/login/token/", "/api/v1/api-keys/"}),
    ("spaces", {"/api/v1/spaces/", "/api/v1/spaces/{space_id}/members/"}),
])
def test_each_function_describes_its_own_routes(stack: Stack, function: str, paths: set[str]) -> None:
    r = httpx.get(f"{stack.base_url}/api/v1/docs/{function}/openapi.json", timeout=30)
    assert r.status_code == 200, r.text
    assert paths <= set(r.json()["paths"])
    # Through the gateway with the API's security headers; no Swagger UI page (its scripts came from a CDN).
    assert r.headers["content-security-policy"].startswith("default-src 'none'")
    assert r.headers["referrer-policy"] == "no-referrer"
    assert httpx.get(f"{stack.base_url}/api/v1/docs/{function}", timeout=30).status_code == 404


def test_unknown_route_is_api_gateway_404(stack: Stack) -> None:
    r = httpx.get(f"{stack.base_url}/api/v1/no-such-thing", timeout=30)
    assert (r.status_code, r.json()) == (404, {"message": "Not Found"})


def test_cors_preflight_from_the_template(stack: Stack) -> None:
    r = httpx.options(f"{stack.base_url}/api/v1/spaces/", timeout=30, headers={
        "Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "*"
    assert "POST" in r.headers["access-control-allow-methods"].split(",")


def test_secrets_stay_private_and_out_of_the_log(stack: Stack) -> None:
    assert stat.S_IMODE(os.stat(stack.data_dir / "endpoints.json").st_mode) == 0o600
    login(stack)
    output = stack.output()
    for secret in (stack.admin_password, stack.super_api_key, stack.jwt_secret):
        assert secret not in output


def test_the_data_folder_is_readable_by_its_owner_only(stack: Stack) -> None:
    """Redis's files hold answer text, the S3 copy documents, the logs requests: nothing for other users (item 13)."""
    key = f"tenants/e2e/{uuid.uuid4()}/private.pdf"
    stack.s3().put_object(Bucket=stack.bucket(), Key=key, Body=b"%PDF private", ContentType="application/pdf")
    deadline = time.monotonic() + 20
    while not any(p.suffix == ".obj" for p in (stack.data_dir / "s3").rglob("*.obj")):  # the mirror's copy
        assert time.monotonic() < deadline, "the S3 mirror wrote no copy"
        time.sleep(0.2)
    uid = os.geteuid()
    mine = [p for p in [stack.data_dir, *stack.data_dir.rglob("*")] if p.lstat().st_uid == uid]
    names = {p.name for p in mine}
    assert {"appendonly.aof", "moto.log", "secrets.json", "endpoints.json", "eneo-local.lock"} <= names, names
    readable = [f"{p.relative_to(stack.data_dir)} {stat.filemode(p.lstat().st_mode)}" for p in mine
                if p.lstat().st_mode & (0o077 if p.is_file() else 0o066)]
    assert readable == [], "readable by others"
    # 0700; run as root, pgserver runs Postgres as its own user, which may traverse (0711) but not list or read.
    assert stat.S_IMODE(stack.data_dir.stat().st_mode) in ((0o700, 0o711) if uid == 0 else (0o700,))


def test_the_local_aws_apis_take_only_the_stacks_credentials(stack: Stack) -> None:
    """The stack generated its own secret (secrets.json): the well-known `local` is refused by S3, SQS, Lambda."""
    s3 = boto3.client("s3", endpoint_url=stack.s3_endpoint_url, region_name=stack.endpoints["region"],
                      aws_access_key_id="local", aws_secret_access_key="local")
    with pytest.raises(ClientError):
        s3.list_objects_v2(Bucket=stack.bucket())
    assert httpx.get(f"{stack.s3_endpoint_url}/{stack.bucket()}?list-type=2", timeout=30).status_code == 403
    lam = boto3.client("lambda", endpoint_url=stack.endpoints["lambda_endpoint_url"],
                       region_name=stack.endpoints["region"], aws_access_key_id="local", aws_secret_access_key="local")
    with pytest.raises(ClientError):
        lam.invoke(FunctionName=next(iter(stack.endpoints["functions"].values())), InvocationType="DryRun")
    stack.s3().list_objects_v2(Bucket=stack.bucket(), MaxKeys=1)  # the stack's own credentials work


def test_a_second_stack_on_the_same_data_is_refused(stack: Stack) -> None:
    second = subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "eneo_local", "up", "--data-dir", str(stack.data_dir), "--port", "0"],
        env=stack.env(), capture_output=True, text=True, timeout=60)
    assert second.returncode == 1
    assert "is in use by another eneo-local" in second.stderr


@pytest.mark.restarts_stack
def test_restart_keeps_objects_users_and_tokens(stack: Stack) -> None:
    s3, bucket = stack.s3(), stack.bucket()
    key = f"tenants/e2e/{uuid.uuid4()}/report.pdf"
    body = os.urandom(70_000)
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/pdf")
    headers = login(stack)
    name = f"Before restart {uuid.uuid4().hex[:6]}"
    r = httpx.post(f"{stack.base_url}/api/v1/spaces/", json={"name": name}, headers=headers, timeout=30)
    assert r.status_code == 201, r.text

    stack.restart()

    obj = stack.s3().get_object(Bucket=bucket, Key=key)
    assert (obj["Body"].read(), obj["ContentType"]) == (body, "application/pdf")
    r = httpx.get(f"{stack.base_url}/api/v1/users/me/", headers=headers, timeout=30)
    assert r.status_code == 200, "a token from before the restart is still valid (same secret)"
    spaces = httpx.get(f"{stack.base_url}/api/v1/spaces/", headers=login(stack), timeout=30).json()["items"]
    assert name in {s["name"] for s in spaces}
