"""The embedded S3 and SQS (moto), answering only requests signed with the stack's credentials, as AWS does.

moto (5.2) checks no signature: anyone on the machine could overwrite a pending upload (its content then ingested
and searchable) or list every tenant's keys. `python -m eneo_local.s3_post_policy -p PORT` runs moto's own server
application behind a WSGI middleware that lets a request through only when it is one of:

* a browser upload (presigned POST): a multipart form carrying the key, the exact Content-Type, a base64 JSON
  policy (expiry, conditions such as `content-length-range`) and its SigV4 signature. The policy is enforced as
  S3 and MinIO enforce it (moto would store an oversized or mistyped file), refusals with S3's status codes and
  XML errors. A form without a policy is refused (403), as S3 refuses one to a bucket that is not public;
* a request signed with SigV4 (boto3's S3 and SQS calls, presigned GET/PUT URLs): checked by eneo_local.sigv4;
* a CORS preflight (OPTIONS), which browsers never sign.

The signatures are checked with the credentials the local stack gives its functions (AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY: generated once per data folder by `eneo-local up`, "local" when unset, as
`services.Endpoints.as_env`). The form is read once, in one pass that copies the body to a spooled file and
decodes the multipart parts as they arrive (the file part is counted, not kept); moto then gets the copy.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import io
import json
import logging
import os
import signal
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any, NoReturn
from xml.sax.saxutils import escape

from eneo_local.sigv4 import Credentials, SignatureRefused, verify

__all__ = ["Credentials", "PostPolicyMiddleware", "create_app"]

log = logging.getLogger("eneo_local.s3_post_policy")

CHUNK = 64 * 1024
SPOOL_IN_MEMORY = 1024 * 1024  # bodies above this are spooled to a temporary file
FIELD_LIMIT = 64 * 1024  # a form field (not the file) larger than this is no upload form
SIGNED_BODY_LIMIT = 16 * 1024 * 1024  # a body read to hash it (a request without x-amz-content-sha256: SQS's)
# Form fields a policy need not name (S3's rule; x-ignore-* too). Names are compared lower-cased.
UNCOVERED = {"policy", "x-amz-signature", "signature", "awsaccesskeyid", "file"}

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class Refused(Exception):
    """What S3 answers to a POST form that breaks its policy."""

    def __init__(self, status: int, code: str, message: str, **details: object) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details

    def xml(self) -> bytes:
        extra = "".join(f"<{name}>{escape(str(value))}</{name}>" for name, value in self.details.items())
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{self.code}</Code>'
                f"<Message>{escape(self.message)}</Message>{extra}<RequestId>{uuid.uuid4().hex[:16].upper()}"
                "</RequestId></Error>").encode()


def _denied(message: str) -> NoReturn:
    raise Refused(403, "AccessDenied", f"Invalid according to Policy: {message}")


@dataclass
class PostForm:
    """A multipart form as S3 reads it: field names lower-cased (the first of a name wins), the file part counted."""

    fields: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # lower-cased -> as sent
    filename: str | None = None  # None: no file part
    file_size: int = 0
    malformed: bool = False  # not well-formed multipart/form-data

    def add(self, name: str, value: str) -> None:
        self.names.setdefault(name.lower(), name)
        self.fields.setdefault(name.lower(), value)


def _require(form: PostForm, name: str) -> str:
    if name not in form.fields:
        raise Refused(400, "InvalidArgument", f"Bucket POST must contain a field named '{name}'.  If it is "
                                              "specified, please check the order of the fields.")
    return form.fields[name]


def check_signature(form: PostForm, credentials: Credentials) -> None:
    """SigV4 (x-amz-signature over the base64 policy) or, for old clients, SigV2 (signature)."""
    policy = form.fields["policy"]
    if "x-amz-signature" in form.fields or "signature" not in form.fields:
        signature = _require(form, "x-amz-signature")
        if _require(form, "x-amz-algorithm") != "AWS4-HMAC-SHA256":
            raise Refused(400, "InvalidArgument", "Only AWS4-HMAC-SHA256 is supported for x-amz-algorithm")
        _require(form, "x-amz-date")
        scope = _require(form, "x-amz-credential").split("/")
        if len(scope) != 5 or scope[3:] != ["s3", "aws4_request"]:
            raise Refused(400, "InvalidArgument", "Invalid credential scope in x-amz-credential")
        key_id, date, region = scope[:3]
        key = ("AWS4" + credentials.secret_access_key).encode()
        for part in (date, region, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        expected = hmac.new(key, policy.encode(), hashlib.sha256).hexdigest()
    else:
        signature, key_id = form.fields["signature"], _require(form, "awsaccesskeyid")
        digest = hmac.new(credentials.secret_access_key.encode(), policy.encode(), hashlib.sha1).digest()
        expected = base64.b64encode(digest).decode()
    if key_id != credentials.access_key_id:
        raise Refused(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise Refused(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the "
                                                    "signature you provided. Check your key and signing method.")


def decode_policy(encoded: str) -> dict[str, Any]:
    try:
        policy = json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError):
        raise Refused(400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON.") from None
    if not isinstance(policy, dict) or not isinstance(policy.get("conditions"), list):
        raise Refused(400, "InvalidPolicyDocument", "Invalid Policy: Policy missing conditions.")
    if not isinstance(policy.get("expiration"), str):
        raise Refused(400, "InvalidPolicyDocument", "Invalid Policy: Policy missing expiration.")
    return policy


def _expiration(value: str) -> datetime:
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise Refused(400, "InvalidPolicyDocument", f"Invalid Policy: Invalid 'expiration' value: '{value}'") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _invalid_condition(condition: object) -> NoReturn:
    raise Refused(400, "InvalidPolicyDocument",
                  f"Invalid Policy: Invalid Condition: {json.dumps(condition, ensure_ascii=False)}")


def check_policy(form: PostForm, bucket: str, now: datetime | None = None) -> None:
    """The policy's expiry, then each condition in order, then fields no condition names, then the size."""
    policy = decode_policy(form.fields["policy"])
    if _expiration(policy["expiration"]) <= (now or datetime.now(UTC)):
        _denied("Policy expired.")
    values = dict(form.fields, bucket=bucket)
    if form.filename is not None and "key" in values:
        values["key"] = values["key"].replace("${filename}", form.filename)
    covered: set[str] = set()
    size_range: tuple[int, int] | None = None
    for condition in policy["conditions"]:
        if isinstance(condition, dict):
            checks = [("eq", name, value) for name, value in condition.items()]
        elif isinstance(condition, list) and len(condition) == 3 and isinstance(condition[0], str):
            op = condition[0].lower()
            if op == "content-length-range":
                try:
                    size_range = (int(condition[1]), int(condition[2]))
                except (TypeError, ValueError):
                    _invalid_condition(condition)
                continue
            if op not in ("eq", "starts-with") or not str(condition[1]).startswith("$"):
                _invalid_condition(condition)
            checks = [(op, str(condition[1])[1:], condition[2])]
        else:
            _invalid_condition(condition)
        for op, name, expected in checks:
            if not isinstance(expected, str):
                _invalid_condition(condition)
            covered.add(name.lower())
            actual = values.get(name.lower())
            if actual is None or not _matches(op, name.lower(), actual, expected):
                _denied(f"Policy Condition failed: {json.dumps([op, '$' + name, expected], ensure_ascii=False)}")
    extra = [form.names[n] for n in form.fields if n not in covered and n not in UNCOVERED
             and not n.startswith("x-ignore-")]
    if extra:
        _denied(f"Extra input fields: {', '.join(extra)}")
    if form.filename is None:
        raise Refused(400, "InvalidArgument", "POST requires exactly one file upload per request.")
    if size_range is not None:
        low, high = size_range
        if form.file_size > high:
            raise Refused(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size",
                          ProposedSize=form.file_size, MaxSizeAllowed=high)
        if form.file_size < low:
            raise Refused(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size",
                          ProposedSize=form.file_size, MinSizeAllowed=low)


def _matches(op: str, name: str, actual: str, expected: str) -> bool:
    if op == "eq":
        return actual == expected
    if name == "content-type":  # S3 accepts a comma-separated list of types for starts-with
        return all(part.strip().startswith(expected) for part in actual.split(","))
    return actual.startswith(expected)


def read_form(stream: IO[bytes], boundary: bytes, copy: IO[bytes]) -> PostForm:
    """Copy the whole body to `copy` while decoding it. A body that is no well-formed multipart form is
    still copied whole; the form then says `malformed`, with the fields read before the fault."""
    from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

    decoder: MultipartDecoder | None = MultipartDecoder(boundary)  # field sizes are held to FIELD_LIMIT below
    form, part, value = PostForm(), None, bytearray()
    counting = after_file = False  # in the (first) file part; past it (S3 ignores later fields)
    event: object = None
    while True:
        chunk = stream.read(CHUNK)
        copy.write(chunk)
        if decoder is not None:
            try:
                decoder.receive_data(chunk or None)
                event = decoder.next_event()
                while not isinstance(event, Epilogue | NeedData):
                    if isinstance(event, Field | File):
                        part, value = event, bytearray()
                        if isinstance(event, File) and not after_file:
                            form.filename, counting = event.filename, True
                    elif isinstance(event, Data) and isinstance(part, File):
                        if counting:
                            form.file_size += len(event.data)
                            counting, after_file = event.more_data, not event.more_data
                    elif isinstance(event, Data) and isinstance(part, Field):
                        value += event.data
                        if len(value) > FIELD_LIMIT:
                            raise ValueError("form field too large")
                        if not event.more_data and not after_file:  # S3 ignores fields after the file
                            form.add(part.name, value.decode("utf-8", "replace"))
                    event = decoder.next_event()
            except Exception:  # werkzeug raises ValueError on malformed input
                decoder, form.malformed = None, True
        if not chunk:
            form.malformed = form.malformed or not isinstance(event, Epilogue)
            return form


class PostPolicyMiddleware:
    """Lets through browser-upload forms whose policy holds, SigV4-signed requests and CORS preflights."""

    def __init__(self, app: WsgiApp, credentials: Credentials) -> None:
        self.app, self.credentials = app, credentials

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        from werkzeug.http import parse_options_header

        method = environ.get("REQUEST_METHOD", "")
        mimetype, options = parse_options_header(environ.get("CONTENT_TYPE", ""))
        try:
            if method == "OPTIONS":  # a CORS preflight: browsers send it unsigned, S3 answers it by the bucket's CORS
                return self.app(environ, start_response)
            if method == "POST" and mimetype == "multipart/form-data" and options.get("boundary"):
                return self._form(environ, start_response, options["boundary"].encode("latin-1"))
            return self._signed(environ, start_response)
        except Refused as refused:
            log.warning("request refused: %s %s %s (%s)", method, refused.status, refused.code, refused.message)
            xml = refused.xml()
            start_response(f"{refused.status} {_REASONS.get(refused.status, 'Error')}",
                           [("Content-Type", "application/xml"), ("Content-Length", str(len(xml)))])
            return [xml]

    def _signed(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """A request that must carry a SigV4 signature (header or presigned URL) by the stack's credentials."""
        from werkzeug.wsgi import get_input_stream

        headers = {key[5:].replace("_", "-").lower(): str(value) for key, value in environ.items()
                   if key.startswith("HTTP_")}
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(key):
                headers[key.replace("_", "-").lower()] = str(environ[key])
        raw = str(environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/"))
        path, query = raw.split("?", 1)[0], str(environ.get("QUERY_STRING", ""))
        body: bytes | None = None
        if "authorization" in headers and "x-amz-content-sha256" not in headers:  # the signature covers the body
            length = int(headers.get("content-length") or 0)
            if length > SIGNED_BODY_LIMIT:
                raise Refused(400, "EntityTooLarge", "A request without x-amz-content-sha256 must be smaller")
            body = get_input_stream(environ).read(length) if length else b""
            environ.update({"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))})
        try:
            verify(environ.get("REQUEST_METHOD", "GET"), path, query, headers, body, self.credentials)
        except SignatureRefused as refused:
            status = 400 if refused.code in ("AuthorizationQueryParametersError",) else 403
            raise Refused(status, refused.code, refused.message) from None
        return self.app(environ, start_response)

    def _form(self, environ: dict[str, Any], start_response: StartResponse, boundary: bytes) -> Iterable[bytes]:
        """A browser upload: its policy must be signed by the stack's credentials and hold."""
        from werkzeug.wsgi import ClosingIterator, get_input_stream

        body: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - closed below
        try:
            form = read_form(get_input_stream(environ), boundary, body)
            if "policy" not in form.fields:
                raise Refused(403, "AccessDenied", "Bucket POST must contain a signed policy (presigned POST); "
                                                   "anonymous uploads are not accepted")
            if form.malformed:
                raise Refused(400, "MalformedPOSTRequest",
                              "The body of your POST request is not well-formed multipart/form-data.")
            check_signature(form, self.credentials)
            check_policy(form, self._bucket(environ))
        except BaseException:
            body.close()
            raise
        size = body.tell()
        body.seek(0)
        environ.update({"wsgi.input": body, "CONTENT_LENGTH": str(size), "wsgi.input_terminated": False})
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        return ClosingIterator(self.app(environ, start_response), body.close)

    @staticmethod
    def _bucket(environ: Mapping[str, Any]) -> str:
        """Path-style (`/bucket`) as the stack's clients address it, else virtual-hosted (`bucket.host`)."""
        path = str(environ.get("PATH_INFO", "")).strip("/")
        if path:
            return path.split("/", 1)[0]
        return str(environ.get("HTTP_HOST", "")).split(".", 1)[0]


_REASONS = {400: "Bad Request", 403: "Forbidden"}


def create_app(credentials: Credentials | None = None) -> WsgiApp:
    """moto's server application (as `python -m moto.server` builds it) behind the policy check."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    moto_app = DomainDispatcherApplication(create_backend_app)
    moto_app.debug = True  # type: ignore[attr-defined]  # as moto.server sets it
    return PostPolicyMiddleware(moto_app, credentials or Credentials.from_env())


def main(argv: list[str] | None = None) -> None:
    """`moto.server`'s own startup, shutdown and request handler, with the policy check in front."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import run_simple

    parser = argparse.ArgumentParser(prog="python -m eneo_local.s3_post_policy")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=int(os.environ.get("MOTO_PORT", 5000)))
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))  # moto builds queue URLs from it
    handler = logging.StreamHandler(sys.stderr)  # our refusals only: werkzeug's request log stays as moto's
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: sys.exit(0))
    run_simple(args.host, args.port, create_app(), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
