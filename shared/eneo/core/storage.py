"""Where documents' bytes live (S3 or anything S3-compatible) and how work is queued (SQS).

Object keys carry ids only (`tenants/{tenant}/groups/{group}/blobs/{blob}`): file names are people's
text and stay in the database. boto3 is imported on first use (~150 ms of cold start the other
routes of a function do not pay); clients are made once per process and endpoint.

Every helper takes the caller's `settings` (bucket, endpoints, region) when it has them, and reads the
process's only when it has none: a caller that built its own (the local stack's start-up resume, whose
process environment names no bucket) must not have half of its work go to another bucket, or to none.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from eneo.core.ids import utcnow
from eneo.core.settings import Settings, get_settings

log = logging.getLogger(__name__)

_KEY = re.compile(r"tenants/([0-9a-f-]{36})/groups/([0-9a-f-]{36})/blobs/([0-9a-f-]{36})")
SQS_BATCH = 10  # SendMessageBatch takes at most 10 entries


def object_key(tenant_id: uuid.UUID, group_id: uuid.UUID, blob_id: uuid.UUID) -> str:
    return f"tenants/{tenant_id}/groups/{group_id}/blobs/{blob_id}"


def parse_object_key(key: str) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID] | None:
    """(tenant_id, group_id, blob_id) of a key this module made; None for anything else."""
    match = _KEY.fullmatch(key)
    if match is None:
        return None
    try:
        tenant, group, blob = (uuid.UUID(part) for part in match.groups())
    except ValueError:
        return None
    return tenant, group, blob


def s3_client(settings: Settings | None = None) -> Any:
    settings = settings or get_settings()
    return _s3_client(settings.s3_endpoint_url, settings.aws_region)


def sqs_client(settings: Settings | None = None) -> Any:
    settings = settings or get_settings()
    # SQS_ENDPOINT_URL, else S3_ENDPOINT_URL (one emulator, moto, serves both locally), else AWS.
    return _sqs_client(settings.sqs_endpoint_url or settings.s3_endpoint_url, settings.aws_region)


@cache
def _s3_client(endpoint_url: str | None, region: str) -> Any:
    import boto3
    from botocore.config import Config

    # SigV4 with the regional, path-style address works against AWS, MinIO and moto alike.
    return boto3.client("s3", endpoint_url=endpoint_url, region_name=region,
                        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))


@cache
def _sqs_client(endpoint_url: str | None, region: str) -> Any:
    import boto3

    return boto3.client("sqs", endpoint_url=endpoint_url, region_name=region)


def reset_clients() -> None:
    """Forget the clients (tests that change the endpoints)."""
    _s3_client.cache_clear()
    _sqs_client.cache_clear()


@dataclass(frozen=True)
class PresignedPost:
    url: str
    fields: dict[str, str]
    expires_at: datetime


def presigned_post(key: str, *, content_type: str, max_bytes: int, expires_in: int | None = None,
                   settings: Settings | None = None) -> PresignedPost:
    """A browser form upload that storage itself holds to 1..max_bytes bytes of exactly `content_type`."""
    settings = settings or get_settings()
    expires_in = expires_in or settings.upload_url_expiry_seconds
    post = s3_client(settings).generate_presigned_post(
        Bucket=settings.documents_bucket, Key=key, Fields={"Content-Type": content_type},
        Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
        ExpiresIn=expires_in)
    return PresignedPost(url=post["url"], fields=dict(post["fields"]),
                         expires_at=utcnow() + timedelta(seconds=expires_in))


def presigned_get(key: str, *, expires_in: int, filename: str, settings: Settings | None = None) -> str:
    """A download link to the object, valid `expires_in` seconds, saved by browsers as `filename`."""
    settings = settings or get_settings()
    url: str = s3_client(settings).generate_presigned_url("get_object", Params={
        "Bucket": settings.documents_bucket, "Key": key,
        "ResponseContentDisposition": f'attachment; filename="{filename}"'}, ExpiresIn=expires_in)
    return url


def put_object(key: str, data: bytes, content_type: str, *, settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    s3_client(settings).put_object(Bucket=settings.documents_bucket, Key=key, Body=data, ContentType=content_type)


_NOT_FOUND = ("404", "NoSuchKey", "NotFound")


def _missing(exc: Exception) -> bool:
    """Whether a botocore ClientError says there is no such object."""
    response = getattr(exc, "response", None)
    return isinstance(response, dict) and response.get("Error", {}).get("Code") in _NOT_FOUND


def object_size(key: str, *, settings: Settings | None = None) -> int | None:
    """The stored object's size (HEAD), None when there is none. Other errors (storage down, throttling,
    access) are raised: they are no reason to think the file is missing."""
    from botocore.exceptions import ClientError

    settings = settings or get_settings()
    try:
        head = s3_client(settings).head_object(Bucket=settings.documents_bucket, Key=key)
    except ClientError as exc:
        if _missing(exc):
            return None
        raise
    return int(head.get("ContentLength", 0))


def read_object(key: str, max_bytes: int, *, settings: Settings | None = None) -> bytes | None:
    """At most `max_bytes` of the object, None when there is none; other errors are raised, as above."""
    from botocore.exceptions import ClientError

    settings = settings or get_settings()
    try:
        response = s3_client(settings).get_object(Bucket=settings.documents_bucket, Key=key)
    except ClientError as exc:
        if _missing(exc):
            return None
        raise
    data: bytes = response["Body"].read(max_bytes)
    return data


def delete_object(key: str, *, settings: Settings | None = None) -> bool:
    """Remove an object; a failure is logged (key only) and reported, never raised: the row is gone already."""
    try:
        settings = settings or get_settings()
        s3_client(settings).delete_object(Bucket=settings.documents_bucket, Key=key)
    except Exception as exc:
        log.warning("document object not deleted", extra={"object_key": key, "error": type(exc).__name__})
        return False
    return True


def group_prefix(tenant_id: uuid.UUID, group_id: uuid.UUID) -> str:
    return f"tenants/{tenant_id}/groups/{group_id}/"


def delete_prefix(prefix: str, *, settings: Settings | None = None) -> int:
    """Remove every object under `prefix` (a deleted collection), 1000 per request; failures (the client
    not being made included) are logged (prefix only) and not raised. Returns how many objects were deleted."""
    deleted = 0
    try:  # the client and settings inside the try: callers run this after their commit and must not fail
        settings = settings or get_settings()
        bucket, client = settings.documents_bucket, s3_client(settings)
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                result = client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
                deleted += len(keys) - len(result.get("Errors", []))
    except Exception as exc:
        log.warning("collection objects not deleted", extra={"prefix": prefix, "error": type(exc).__name__})
    return deleted


def send_messages(queue_url: str, bodies: Iterable[dict[str, Any]], *, workers: int = 4,
                  settings: Settings | None = None) -> None:
    """Send each body as one SQS message (JSON), ten per request, a few requests at once.

    Raises RuntimeError naming how many messages SQS refused (their content is never logged).
    """
    entries = [json.dumps(body, separators=(",", ":"), default=str) for body in bodies]
    if not entries:
        return
    batches = [entries[i:i + SQS_BATCH] for i in range(0, len(entries), SQS_BATCH)]
    client = sqs_client(settings)

    def send(batch: Sequence[str]) -> int:
        result = client.send_message_batch(
            QueueUrl=queue_url, Entries=[{"Id": str(n), "MessageBody": body} for n, body in enumerate(batch)])
        return len(result.get("Failed", []))

    if len(batches) == 1:
        failed = send(batches[0])
    else:
        with ThreadPoolExecutor(max_workers=min(workers, len(batches))) as pool:
            failed = sum(pool.map(send, batches))
    if failed:
        raise RuntimeError(f"SQS refused {failed} of {len(entries)} message(s)")
