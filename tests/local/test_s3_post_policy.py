"""The embedded S3 refuses browser uploads that break their presigned POST policy, as S3 does.

One real launcher, started the way the local stack starts it (`EmbeddedServices`), with boto3's own
`generate_presigned_post` and the conditions `eneo.core.storage.presigned_post` uses.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from eneo_local.services import EmbeddedServices

REGION = "eu-north-1"
BUCKET = "post-policy-docs"
LIMIT = 16 * 1024 * 1024
PDF = "application/pdf"


@pytest.fixture(scope="module")
def launched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmbeddedServices, str]]:
    """The stack's S3 as `EmbeddedServices` starts it (only that part: no Postgres or Redis here)."""
    with pytest.MonkeyPatch.context() as env:
        for name in ("S3_ENDPOINT_URL", "ENEO_MOTO_PORT"):
            env.delenv(name, raising=False)
        env.setenv("AWS_ACCESS_KEY_ID", "local")
        env.setenv("AWS_SECRET_ACCESS_KEY", "local")
        services = EmbeddedServices(tmp_path_factory.mktemp("s3"))
        url = services._s3_url()
    yield services, url
    services.stop()


@pytest.fixture(scope="module")
def embedded(launched: tuple[EmbeddedServices, str]) -> EmbeddedServices:
    return launched[0]


@pytest.fixture(scope="module")
def endpoint(launched: tuple[EmbeddedServices, str]) -> str:
    return launched[1]


def s3(endpoint: str, secret: str = "local", key_id: str = "local") -> Any:
    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=key_id,
                        aws_secret_access_key=secret,
                        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))


@pytest.fixture(scope="module")
def client(endpoint: str) -> Any:
    client = s3(endpoint)
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return client


def presigned(client: Any, key: str, content_type: str = PDF, max_bytes: int = LIMIT,
              expires_in: int = 600) -> dict[str, Any]:
    """As eneo.core.storage.presigned_post asks for it."""
    return dict(client.generate_presigned_post(
        Bucket=BUCKET, Key=key, Fields={"Content-Type": content_type},
        Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]], ExpiresIn=expires_in))


def post(target: dict[str, Any], data: bytes, *, fields: dict[str, str] | None = None,
         content_type: str = PDF) -> httpx.Response:
    return httpx.post(target["url"], data=target["fields"] if fields is None else fields,
                      files={"file": ("dokument.pdf", data, content_type)}, timeout=60)


def error(r: httpx.Response) -> tuple[int, str, str]:
    root = ET.fromstring(r.content)  # noqa: S314 - our own test server's answer
    return r.status_code, root.findtext("Code") or "", root.findtext("Message") or ""


def stored(client: Any, key: str) -> bytes | None:
    listing = client.list_objects_v2(Bucket=BUCKET, Prefix=key)
    if not any(o["Key"] == key for o in listing.get("Contents", [])):
        return None
    return bytes(client.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def test_a_right_upload_is_stored(client: Any) -> None:
    target = presigned(client, "right/1")
    r = post(target, b"%PDF-1.7 small")
    assert r.status_code == 204, r.text
    assert stored(client, "right/1") == b"%PDF-1.7 small"


def test_a_file_above_the_limit_is_refused_and_nothing_is_stored(client: Any, embedded: EmbeddedServices) -> None:
    target = presigned(client, "large/1", max_bytes=1000)
    r = post(target, b"x" * 1001)
    assert error(r) == (400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
    root = ET.fromstring(r.content)  # noqa: S314
    assert (root.findtext("ProposedSize"), root.findtext("MaxSizeAllowed")) == ("1001", "1000")
    assert stored(client, "large/1") is None
    assert post(target, b"x" * 1000).status_code == 204  # the limit itself is allowed
    assert stored(client, "large/1") == b"x" * 1000
    # The refusal is in the stack's moto log, as S3 named it.
    assert "EntityTooLarge" in (embedded.data_dir / "moto.log").read_text()


def test_an_empty_file_is_too_small(client: Any) -> None:
    r = post(presigned(client, "empty/1"), b"")
    assert error(r)[:2] == (400, "EntityTooSmall")
    assert stored(client, "empty/1") is None


def test_another_content_type_is_refused(client: Any) -> None:
    target = presigned(client, "type/1", content_type="text/markdown")
    r = post(target, b"# ok", fields={**target["fields"], "Content-Type": "text/html"}, content_type="text/html")
    assert error(r) == (403, "AccessDenied", 'Invalid according to Policy: Policy Condition failed: '
                                             '["eq", "$Content-Type", "text/markdown"]')
    assert stored(client, "type/1") is None


def test_another_key_is_refused(client: Any) -> None:
    target = presigned(client, "tenants/a/blobs/1")
    r = post(target, b"%PDF", fields={**target["fields"], "key": "tenants/b/blobs/1"})
    status, code, message = error(r)
    assert (status, code) == (403, "AccessDenied") and '"$key", "tenants/a/blobs/1"' in message
    assert stored(client, "tenants/b/blobs/1") is None and stored(client, "tenants/a/blobs/1") is None


def test_an_expired_policy_is_refused(client: Any) -> None:
    target = presigned(client, "expired/1", expires_in=-5)
    assert error(post(target, b"%PDF")) == (403, "AccessDenied", "Invalid according to Policy: Policy expired.")
    assert stored(client, "expired/1") is None


def test_a_tampered_policy_or_a_foreign_signature_is_refused(client: Any, endpoint: str) -> None:
    target = presigned(client, "tampered/1", max_bytes=10)
    policy = json.loads(base64.b64decode(target["fields"]["policy"]))
    policy["conditions"] = [["content-length-range", 1, LIMIT] if isinstance(c, list) else c
                            for c in policy["conditions"]]
    raised = {**target["fields"], "policy": base64.b64encode(json.dumps(policy).encode()).decode()}
    assert error(post(target, b"x" * 100, fields=raised))[:2] == (403, "SignatureDoesNotMatch")

    foreign = presigned(s3(endpoint, secret="someone-else"), "tampered/1")
    assert error(post(foreign, b"%PDF"))[:2] == (403, "SignatureDoesNotMatch")
    unknown = presigned(s3(endpoint, key_id="AKIAUNKNOWN"), "tampered/1")
    assert error(post(unknown, b"%PDF"))[:2] == (403, "InvalidAccessKeyId")
    assert stored(client, "tampered/1") is None


def test_a_field_the_policy_does_not_name_is_refused(client: Any) -> None:
    target = presigned(client, "extra/1")
    r = post(target, b"%PDF", fields={**target["fields"], "x-amz-meta-owner": "mallory"})
    assert error(r) == (403, "AccessDenied", "Invalid according to Policy: Extra input fields: x-amz-meta-owner")
    ignored = {**target["fields"], "x-ignore-tracking": "1"}  # S3's escape hatch
    assert post(target, b"%PDF", fields=ignored).status_code == 204


def test_starts_with_and_the_filename_placeholder(client: Any) -> None:
    target = dict(client.generate_presigned_post(Bucket=BUCKET, Key="drop/${filename}", ExpiresIn=60,
                                                 Conditions=[["starts-with", "$Content-Type", "image/"]],
                                                 Fields={"Content-Type": "image/png"}))
    assert post(target, b"png", content_type="image/png").status_code == 204
    assert stored(client, "drop/dokument.pdf") == b"png"
    r = post(target, b"x", fields={**target["fields"], "Content-Type": "text/html"})
    assert error(r)[2].endswith('["starts-with", "$Content-Type", "image/"]')


def send(target: dict[str, Any], data: bytes, *, chunked: bool) -> httpx.Response:
    """The form as a browser builds it, sent whole (Content-Length) or streamed (chunked, no length)."""
    request = httpx.Request("POST", target["url"], data=target["fields"], files={"file": ("big.pdf", data, PDF)})
    body = request.read()
    if not chunked:
        return httpx.post(target["url"], content=body, headers={"Content-Type": request.headers["Content-Type"]},
                          timeout=120)

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 256 * 1024):
            yield body[i:i + 256 * 1024]

    return httpx.post(target["url"], content=chunks(), headers={"Content-Type": request.headers["Content-Type"]},
                      timeout=120)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_large_upload_arrives_intact_and_one_byte_more_is_refused(client: Any, chunked: bool) -> None:
    """The launcher reads the body once and gives moto an exact copy, however it was sent."""
    key = f"large/{chunked}"
    target = presigned(client, key)
    data = os.urandom(LIMIT)
    t0 = time.monotonic()
    r = send(target, data, chunked=chunked)
    seconds = time.monotonic() - t0
    assert r.status_code == 204, r.text
    got = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    print(f"{len(data) / 2**20:.0f} MiB form upload (chunked: {chunked}): {seconds:.2f}s")

    client.delete_object(Bucket=BUCKET, Key=key)
    assert error(send(target, data + b"x", chunked=chunked))[:2] == (400, "EntityTooLarge")
    assert stored(client, key) is None


def test_a_truncated_form_is_refused(client: Any) -> None:
    target = presigned(client, "truncated/1")
    request = httpx.Request("POST", target["url"], data=target["fields"], files={"file": ("a.pdf", b"%PDF", PDF)})
    body = request.read()[:-20]  # the closing boundary is missing
    r = httpx.post(target["url"], content=body, headers={"Content-Type": request.headers["Content-Type"]})
    assert error(r)[:2] == (400, "MalformedPOSTRequest")
    assert stored(client, "truncated/1") is None


def test_the_api_presigned_urls_and_sqs_pass_through(client: Any, endpoint: str) -> None:
    client.put_object(Bucket=BUCKET, Key="api/1", Body=b"via the API", ContentType="text/plain")
    assert client.get_object(Bucket=BUCKET, Key="api/1")["Body"].read() == b"via the API"
    assert "api/1" in [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix="api/")["Contents"]]
    put_url = client.generate_presigned_url("put_object", Params={"Bucket": BUCKET, "Key": "api/2"})
    assert httpx.put(put_url, content=b"presigned put").status_code == 200
    get_url = client.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "api/2"})
    assert httpx.get(get_url).content == b"presigned put"

    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="local",
                       aws_secret_access_key="local")
    queue = sqs.create_queue(QueueName="post-policy-queue")["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="hello")
    messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"]
    assert [m["Body"] for m in messages] == ["hello"]


def test_unsigned_or_wrongly_signed_requests_are_refused(client: Any, endpoint: str) -> None:
    """Anyone on the machine can reach the port: without the stack's credentials nothing is read or written."""
    client.put_object(Bucket=BUCKET, Key="tenants/a/pending", Body=b"the owner's upload", ContentType=PDF)
    anonymous = [
        httpx.get(f"{endpoint}/{BUCKET}?list-type=2"),  # list every tenant's keys
        httpx.get(f"{endpoint}/{BUCKET}/tenants/a/pending"),
        httpx.put(f"{endpoint}/{BUCKET}/tenants/a/pending", content=b"overwritten", headers={"Content-Type": PDF}),
        httpx.delete(f"{endpoint}/{BUCKET}/tenants/a/pending"),
        httpx.post(f"{endpoint}/{BUCKET}", data={"key": "tenants/a/pending"},  # a form without a policy
                   files={"file": ("a.pdf", b"overwritten", PDF)}),
        httpx.post(f"{endpoint}/", data={"Action": "ListQueues"}),  # SQS, query protocol
        httpx.post(f"{endpoint}/moto-api/reset"),
    ]
    for r in anonymous:
        assert error(r)[:2] == (403, "AccessDenied"), (r.request.method, r.request.url, r.text)
    stranger = s3(endpoint, secret="guessed")
    for call in (lambda: stranger.list_objects_v2(Bucket=BUCKET),
                 lambda: stranger.put_object(Bucket=BUCKET, Key="tenants/a/pending", Body=b"overwritten")):
        with pytest.raises(ClientError) as refused:
            call()
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="local",
                       aws_secret_access_key="guessed")
    with pytest.raises(ClientError):
        sqs.list_queues()
    assert client.get_object(Bucket=BUCKET, Key="tenants/a/pending")["Body"].read() == b"the owner's upload"
    # A browser's CORS preflight is never signed, and is answered.
    preflight = httpx.options(f"{endpoint}/{BUCKET}", headers={
        "Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"})
    assert preflight.status_code != 403


def test_stop_ends_the_launcher_promptly(tmp_path: Path) -> None:
    with pytest.MonkeyPatch.context() as env:
        env.delenv("S3_ENDPOINT_URL", raising=False)
        env.delenv("ENEO_MOTO_PORT", raising=False)
        services = EmbeddedServices(tmp_path)
        url = services._s3_url()
    process = services._moto
    assert process is not None and os.getpgid(process.pid) == process.pid  # its own process group
    assert httpx.get(f"{url}/").status_code == 403  # it serves (unsigned requests are refused)
    t0 = time.monotonic()
    services.stop()
    assert process.returncode == 0 and time.monotonic() - t0 < 5
    assert services.started == [] and (tmp_path / "moto.log").exists()
