"""The local stack's SigV4 check (eneo_local.sigv4) accepts what real signers send and nothing else.

The requests are the ones boto3 clients really build (captured before they leave), for each service the stack
emulates: S3 (header-signed and presigned), SQS, Lambda Invoke and the @connections API; and the ws relay's own
signer. A changed byte anywhere signed, another key, an old date or an expired URL is refused.
"""

import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config

from eneo_local.sigv4 import Credentials, SignatureRefused, verify

CREDENTIALS = Credentials("local", "generated-secret-0123456789abcdef")
REGION = "eu-north-1"
ENDPOINT = "http://127.0.0.1:4566"


class _Raw:
    def stream(self, **_: Any) -> Any:
        return iter([b""])


def captured(service: str, call: str, secret: str = CREDENTIALS.secret_access_key, endpoint: str = ENDPOINT,
             **params: Any) -> dict[str, Any]:
    """The request a boto3 client sends for `call(**params)`, as method, path, query, headers and body."""
    client = boto3.client(service, endpoint_url=endpoint, region_name=REGION, aws_access_key_id="local",
                          aws_secret_access_key=secret,
                          config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}))
    seen: dict[str, Any] = {}

    def grab(request: Any, **_: Any) -> AWSResponse:
        body = request.body
        body = body.read() if hasattr(body, "read") else (body or b"")
        seen.update(method=request.method, url=request.url, headers=dict(request.headers),
                    body=body.encode() if isinstance(body, str) else bytes(body))
        return AWSResponse(request.url, 599, {}, _Raw())

    client.meta.events.register("before-send", grab)
    with contextlib.suppress(Exception):  # the fake 599 is no answer boto3 accepts; the request is what counts
        getattr(client, call)(**params)
    return seen


def check(request: dict[str, Any], credentials: Credentials = CREDENTIALS, **kw: Any) -> str:
    parts = urlsplit(request["url"])
    headers = {k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in request["headers"].items()}
    headers.setdefault("host", parts.netloc)
    return verify(request["method"], parts.path, parts.query, headers, request["body"], credentials, **kw)


CALLS = [
    ("s3", "list_objects_v2", {"Bucket": "docs", "Prefix": "tenant a/"}),
    ("s3", "put_object", {"Bucket": "docs", "Key": "t/a b/ä+ö=.pdf", "Body": b"%PDF-1.7", "ContentType": "a/b"}),
    ("s3", "get_object", {"Bucket": "docs", "Key": "t/../x//y"}),
    ("sqs", "send_message", {"QueueUrl": f"{ENDPOINT}/123456789012/ingest", "MessageBody": '{"a": "b c"}'}),
    ("lambda", "invoke", {"FunctionName": "eneo-complete", "InvocationType": "Event", "Payload": b'{"q": 1}'}),
    ("apigatewaymanagementapi", "post_to_connection", {"ConnectionId": "L0SM9cOFvHcCIhw=", "Data": b'{"t": 1}'}),
]


@pytest.mark.parametrize(("service", "call", "params"), CALLS, ids=[c[1] for c in CALLS])
def test_what_boto3_signs_is_accepted_and_any_change_refused(service: str, call: str, params: dict[str, Any]) -> None:
    endpoint = f"{ENDPOINT}/live" if service == "apigatewaymanagementapi" else ENDPOINT
    request = captured(service, call, endpoint=endpoint, **params)
    assert check(request) == ("execute-api" if service == "apigatewaymanagementapi" else service)

    with pytest.raises(SignatureRefused) as refused:
        check(request, Credentials("local", "another-secret"))
    assert refused.value.code == "SignatureDoesNotMatch"
    with pytest.raises(SignatureRefused, match="Access Key Id"):
        check(request, Credentials("someone-else", CREDENTIALS.secret_access_key))
    other_path = dict(request, url=request["url"].replace(urlsplit(request["url"]).path, "/other", 1))
    with pytest.raises(SignatureRefused):
        check(other_path)
    if service not in ("s3",):  # S3 signs the payload's hash header; the others the body itself
        with pytest.raises(SignatureRefused):
            check(dict(request, body=request["body"] + b" "))
    with pytest.raises(SignatureRefused, match="too large"):
        check(request, now=datetime.now(UTC) + timedelta(minutes=20))


def test_presigned_urls_are_accepted_until_they_expire() -> None:
    client = boto3.client("s3", endpoint_url=ENDPOINT, region_name=REGION, aws_access_key_id="local",
                          aws_secret_access_key=CREDENTIALS.secret_access_key,
                          config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    for method, params in (("get_object", {"Bucket": "docs", "Key": "t/a b.pdf"}),
                           ("put_object", {"Bucket": "docs", "Key": "t/x.txt", "ContentType": "text/plain"})):
        url = client.generate_presigned_url(method, Params=params, ExpiresIn=60)
        parts = urlsplit(url)
        headers = {"host": parts.netloc} | ({"content-type": "text/plain"} if method == "put_object" else {})
        http_method = "GET" if method == "get_object" else "PUT"
        assert verify(http_method, parts.path, parts.query, headers, None, CREDENTIALS) == "s3"
        with pytest.raises(SignatureRefused, match="expired"):
            verify(http_method, parts.path, parts.query, headers, None, CREDENTIALS,
                   now=datetime.now(UTC) + timedelta(seconds=90))
        with pytest.raises(SignatureRefused):
            verify(http_method, parts.path.replace("docs", "other"), parts.query, headers, None, CREDENTIALS)


def test_unsigned_and_other_schemes_are_refused() -> None:
    for headers in ({"host": "127.0.0.1"}, {"host": "127.0.0.1", "authorization": "AWS local:abc"}):
        with pytest.raises(SignatureRefused):
            verify("GET", "/docs", "list-type=2", headers, b"", CREDENTIALS)
    with pytest.raises(SignatureRefused, match="incomplete"):
        verify("GET", "/docs/k", "X-Amz-Algorithm=AWS4-HMAC-SHA256", {"host": "h"}, None, CREDENTIALS)


def test_the_relays_own_signer_is_accepted() -> None:
    sigv4 = pytest.importorskip("eneo.realtime.sigv4")
    url = f"{ENDPOINT}/live/@connections/L0SM9cOFvHcCIhw="
    body = b'{"type": "text", "text": "hej"}'
    headers = sigv4.sign("POST", url, body, access_key="local", secret_key=CREDENTIALS.secret_access_key, token=None,
                         region=REGION, service="execute-api")
    request = {"method": "POST", "url": url, "headers": headers | {"host": urlsplit(url).netloc}, "body": body}
    assert check(request) == "execute-api"
    with pytest.raises(SignatureRefused):
        check(dict(request, body=b'{"type": "text", "text": "injected"}'))
