"""Checking AWS Signature Version 4 on requests to the local stack's AWS-shaped endpoints, as AWS does.

The embedded S3/SQS (moto, behind s3_post_policy.py), the `@connections` API (websocket.py) and the Lambda Invoke
API (lambda_api.py) listen on 127.0.0.1, where anyone on the machine can call them: without a check, they could
overwrite a pending upload, list another tenant's keys, inject frames into a user's socket or invoke any function.
So each request must be signed with the stack's credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, which
`eneo-local up` generates once per data folder: parameters.stack_credentials), in the Authorization header or in
the query string (presigned URLs).

The check recomputes the signature by the specification, from the request as it arrived, so any correct signer
passes (botocore, the ws relay's own signer, a browser with a presigned URL): the canonical URI is the path as sent
for S3 and, for every other service, that path with dot segments removed and encoded once more; the query's names
and values are encoded the AWS way and sorted; the signed headers are those the Authorization names; the payload
hash is x-amz-content-sha256 when sent (S3 always sends it; UNSIGNED-PAYLOAD allowed, as on S3), else the body's.
A request dated more than 15 minutes from now, or a presigned URL past its expiry, is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from urllib.parse import quote, unquote

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = timedelta(minutes=15)
MAX_EXPIRES = 7 * 24 * 3600  # a presigned URL lives a week at most (S3's limit)
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str

    @classmethod
    def from_env(cls) -> Credentials:
        """The stack's credentials as its processes have them ("local" when unset: tests' own embedded services)."""
        return cls(os.environ.get("AWS_ACCESS_KEY_ID", "local"), os.environ.get("AWS_SECRET_ACCESS_KEY", "local"))


class SignatureRefused(Exception):
    """Why a request is not accepted as signed; `code` is the error code S3 uses for it (other services name it
    differently: `aws_error_type`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message

    @property
    def aws_error_type(self) -> str:
        """The x-amzn-ErrorType of API Gateway and Lambda for the same refusal."""
        return {"SignatureDoesNotMatch": "InvalidSignatureException",
                "InvalidAccessKeyId": "UnrecognizedClientException"}.get(self.code, "AccessDeniedException")


@lru_cache(maxsize=32)
def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """Derived once per day, region and service (four HMACs), as signers keep it."""
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def _remove_dot_segments(path: str) -> str:
    out: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if len(out) > 1:
                out.pop()
        elif segment != ".":
            out.append(segment)
    normalised = "/".join(out)
    if path.endswith(("/.", "/..")):
        normalised += "/"
    return normalised if normalised.startswith("/") else "/" + normalised


def canonical_uri(raw_path: str, service: str) -> str:
    if service == "s3":
        return raw_path or "/"
    return quote(_remove_dot_segments(raw_path or "/"), safe="/~")


def _pairs(raw_query: str) -> list[tuple[str, str]]:
    pairs = []
    for part in raw_query.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((unquote(name), unquote(value)))
    return pairs


def canonical_query(pairs: list[tuple[str, str]]) -> str:
    encoded = sorted((_encode(name), _encode(value)) for name, value in pairs if name != "X-Amz-Signature")
    return "&".join(f"{name}={value}" for name, value in encoded)


def _parse_authorization(value: str) -> dict[str, str]:
    algorithm, _, rest = value.partition(" ")
    if algorithm != ALGORITHM:
        raise SignatureRefused("AccessDenied", f"Only {ALGORITHM} signatures are accepted")
    fields: dict[str, str] = {}
    for item in rest.split(","):
        name, _, field_value = item.strip().partition("=")
        fields[name] = field_value
    if not {"Credential", "SignedHeaders", "Signature"} <= fields.keys():
        raise SignatureRefused("AccessDenied", "The authorization header is malformed")
    return fields


def _when(stamp: str) -> datetime:
    try:
        return datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise SignatureRefused("AccessDenied", "X-Amz-Date is missing or malformed") from None


def verify(method: str, raw_path: str, raw_query: str, headers: Mapping[str, str], body: bytes | None,
           credentials: Credentials, *, now: datetime | None = None) -> str:
    """Accept a request signed with `credentials` (returns the service its scope names) or raise SignatureRefused.

    `headers`: names lower-cased, repeated values joined with ",". `body`: the request body, needed only when the
    request sends no x-amz-content-sha256 (None: not read; such a request is refused).
    """
    now = now or datetime.now(UTC)
    pairs = _pairs(raw_query)
    query = dict(pairs)
    if "authorization" in headers:
        fields = _parse_authorization(headers["authorization"])
        credential, signed_names, signature = fields["Credential"], fields["SignedHeaders"], fields["Signature"]
        stamp = headers.get("x-amz-date", "")
        when = _when(stamp)
        if abs(now - when) > MAX_SKEW:
            raise SignatureRefused("RequestTimeTooSkewed", "The difference between the request time and the current "
                                                           "time is too large.")
        payload = headers.get("x-amz-content-sha256")
    elif query.get("X-Amz-Algorithm") == ALGORITHM:
        try:
            credential, signed_names = query["X-Amz-Credential"], query["X-Amz-SignedHeaders"]
            signature, stamp, expires = query["X-Amz-Signature"], query["X-Amz-Date"], int(query["X-Amz-Expires"])
        except (KeyError, ValueError):
            raise SignatureRefused("AuthorizationQueryParametersError", "The presigned URL is incomplete") from None
        when = _when(stamp)
        if not 0 < expires <= MAX_EXPIRES or now > when + timedelta(seconds=expires) or when - now > MAX_SKEW:
            raise SignatureRefused("AccessDenied", "Request has expired")
        payload = query.get("X-Amz-Content-Sha256") or headers.get("x-amz-content-sha256")
    else:
        raise SignatureRefused("AccessDenied", "Anonymous requests are not accepted: sign them with the local "
                                               "stack's credentials (AWS Signature Version 4)")
    scope = credential.split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or scope[1] != stamp[:8]:
        raise SignatureRefused("AccessDenied", "The credential scope is malformed")
    key_id, date, region, service = scope[:4]
    if not hmac.compare_digest(key_id.encode(), credentials.access_key_id.encode()):
        raise SignatureRefused("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our "
                                                     "records.")
    names = signed_names.split(";")
    if "host" not in names or any(name not in headers for name in names):
        raise SignatureRefused("AccessDenied", "The signed headers must include host and be sent")
    if payload is None:
        if "authorization" not in headers and service == "s3":
            payload = UNSIGNED_PAYLOAD  # S3's presigned URLs sign no payload
        elif body is None:
            raise SignatureRefused("AccessDenied", "x-amz-content-sha256 is required")
        else:
            payload = hashlib.sha256(body).hexdigest()
    canonical = "\n".join([
        method.upper(), canonical_uri(raw_path, service), canonical_query(pairs),
        "".join(f"{name}:{' '.join(headers[name].split())}\n" for name in names), signed_names, payload])
    to_sign = "\n".join([ALGORITHM, stamp, "/".join(scope[1:]), hashlib.sha256(canonical.encode()).hexdigest()])
    expected = hmac.new(_signing_key(credentials.secret_access_key, date, region, service), to_sign.encode(),
                        hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise SignatureRefused("SignatureDoesNotMatch", "The request signature we calculated does not match the "
                                                        "signature you provided. Check your key and signing method.")
    return service


def verify_asgi(scope: Mapping[str, object], body: bytes, credentials: Credentials) -> str:
    """`verify` for an ASGI HTTP request (the @connections and Lambda Invoke APIs), its body read whole."""
    raw = scope.get("raw_path") or str(scope.get("path", "/")).encode()
    path = raw.decode("latin-1").split("?", 1)[0] if isinstance(raw, bytes) else "/"
    query = scope.get("query_string") or b""
    headers: dict[str, str] = {}
    for name, value in scope.get("headers") or []:  # type: ignore[attr-defined]
        key = name.decode("latin-1").lower()
        headers[key] = f"{headers[key]},{value.decode('latin-1')}" if key in headers else value.decode("latin-1")
    return verify(str(scope.get("method", "GET")), path, query.decode("latin-1") if isinstance(query, bytes) else "",
                  headers, body, credentials)
