"""The template's buckets in the embedded S3 (moto), and how their objects survive a restart.

moto keeps S3 in memory only. The mirror keeps a copy of every object on disk and puts it back:

* **Start**: each bucket is created (with the template's CORS, encryption and public-access
  settings), then every object on disk is put back into it, before migrations, workers or the
  gateway run, so nothing sees a half-restored bucket.
* **While running**: an internal SQS queue is subscribed to the bucket's `ObjectCreated:*` and
  `ObjectRemoved:*` notifications (moto delivers them synchronously, whoever writes: boto3,
  presigned PUTs from a browser, copies, multipart uploads). A background thread long-polls it
  and brings each named key on disk in line with S3 *as it is now* (GET → temporary file →
  atomic rename; 404 → delete). Syncing to current state rather than replaying events makes
  duplicates and reordering harmless. The subscription is merged into the bucket's notification
  configuration by its Id, never replacing what others configured (the S3 → ingest queue), and
  re-merged if someone overwrites the configuration, followed by a full reconcile.
* **Stop**: the thread drains the queue, then a full reconcile compares a listing of the bucket
  (ETags) with what the mirror last wrote, so the disk is exact even if a notification was lost.

On disk, an object is one file `<root>/<bucket>/<hh>/<sha256(key)>.obj`: a JSON header line (key,
content type, user metadata, ...) followed by the object's bytes. Files are named by hash because
S3 keys are not file paths: `a` and `a/b` coexist, keys may hold `..`, `//` or 1024 bytes. One file
per object makes each update a single atomic rename (data and metadata never disagree).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote_plus

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from eneo_local.template import BucketSpec

log = logging.getLogger("eneo_local.s3_mirror")

MIRROR_ID = "eneo-local-s3-mirror"  # the queue's name and the notification configuration's Id
MIRROR_EVENTS = ("s3:ObjectCreated:*", "s3:ObjectRemoved:*")
_KEPT_HEADERS = ("ContentType", "ContentEncoding", "ContentDisposition", "ContentLanguage", "CacheControl")
_CHUNK = 1024 * 1024


def aws_client(service: str, endpoint_url: str, region: str) -> Any:
    """A boto3 client of `service` for the embedded endpoint (credentials from the environment, or dummies)."""
    session = boto3.session.Session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "local"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
        region_name=region)
    config = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=30)
    return session.client(service, endpoint_url=endpoint_url, config=config)


def aws_clients(endpoint_url: str, region: str) -> tuple[Any, Any]:
    """S3 and SQS clients for the embedded endpoint."""
    return aws_client("s3", endpoint_url, region), aws_client("sqs", endpoint_url, region)


def _missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NoSuchBucket", "NotFound")


# ---------------------------------------------------------------------------------------------
# Buckets


def ensure_bucket(s3: Any, spec: BucketSpec, region: str) -> bool:
    """Create the bucket unless it exists, and apply the template's settings; True if created."""
    created = False
    try:
        s3.head_bucket(Bucket=spec.name)
    except ClientError as exc:
        if not _missing(exc):
            raise
        kwargs: dict[str, Any] = {"Bucket": spec.name}
        if region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**kwargs)
        created = True
    props = spec.properties
    if spec.cors_rules:
        s3.put_bucket_cors(Bucket=spec.name, CORSConfiguration={"CORSRules": list(spec.cors_rules)})
    if encryption := props.get("BucketEncryption"):
        rules = [{"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                  **({"BucketKeyEnabled": rule["BucketKeyEnabled"]} if "BucketKeyEnabled" in rule else {})}
                 for rule in encryption.get("ServerSideEncryptionConfiguration", [])]
        s3.put_bucket_encryption(Bucket=spec.name, ServerSideEncryptionConfiguration={"Rules": rules})
    if block := props.get("PublicAccessBlockConfiguration"):
        s3.put_public_access_block(Bucket=spec.name, PublicAccessBlockConfiguration=block)
    if (props.get("VersioningConfiguration") or {}).get("Status") == "Enabled":
        s3.put_bucket_versioning(Bucket=spec.name, VersioningConfiguration={"Status": "Enabled"})
    return created


def merge_queue_notification(s3: Any, bucket: str, config_id: str, queue_arn: str, events: Iterable[str],
                             filter_rules: dict[str, Any] | None = None) -> None:
    """Add (or replace, by Id) one S3 → SQS notification, keeping every other configuration.

    S3's API replaces the whole notification configuration on each put, so anything that
    subscribes to a bucket must read, merge and write back, as this does.
    """
    current = s3.get_bucket_notification_configuration(Bucket=bucket)
    current.pop("ResponseMetadata", None)
    queues = [q for q in current.get("QueueConfigurations", []) if q.get("Id") != config_id]
    entry: dict[str, Any] = {"Id": config_id, "QueueArn": queue_arn, "Events": list(events)}
    if filter_rules:
        entry["Filter"] = filter_rules
    current["QueueConfigurations"] = [*queues, entry]
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=current)


def has_queue_notification(s3: Any, bucket: str, config_id: str) -> bool:
    current = s3.get_bucket_notification_configuration(Bucket=bucket)
    return any(q.get("Id") == config_id for q in current.get("QueueConfigurations", []))


# ---------------------------------------------------------------------------------------------
# Objects on disk


@dataclass(frozen=True)
class StoredObject:
    key: str
    path: Path
    header: dict[str, Any]


class ObjectStore:
    """The disk copy of one bucket (see the module docstring for the layout)."""

    def __init__(self, root: Path, bucket: str) -> None:
        self.dir = root / bucket
        self.dir.mkdir(parents=True, exist_ok=True)

    def path_for(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return self.dir / digest[:2] / f"{digest}.obj"

    def write(self, key: str, header: dict[str, Any], chunks: Iterable[bytes]) -> None:
        """Replace the copy of `key` atomically: a crash leaves the old copy or the new one."""
        path = self.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(json.dumps({"key": key, **header}).encode() + b"\n")
                for chunk in chunks:
                    f.write(chunk)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path_for(key).unlink()

    def objects(self) -> Iterator[StoredObject]:
        for path in sorted(self.dir.glob("??/*.obj")):
            with path.open("rb") as f:
                header = json.loads(f.readline())
            yield StoredObject(header["key"], path, header)

    @staticmethod
    @contextlib.contextmanager
    def open_body(stored: StoredObject) -> Iterator[BinaryIO]:
        with stored.path.open("rb") as f:
            f.readline()
            yield f

    def clear_partial(self) -> None:
        """Temporary files of a write interrupted by a crash."""
        for tmp in self.dir.glob("??/.incoming-*"):
            tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# The mirror


class S3Mirror:
    """Keeps `<root>/<bucket>/` in step with the embedded S3 for the given buckets."""

    def __init__(self, endpoint_url: str, region: str, root: Path, buckets: Iterable[str],
                 poll_seconds: int = 1, check_every: float = 30.0) -> None:
        self.region = region
        self.s3, self.sqs = aws_clients(endpoint_url, region)
        self.stores = {name: ObjectStore(root, name) for name in buckets}
        self.poll_seconds = poll_seconds
        self.check_every = check_every
        self._etags: dict[str, dict[str, str]] = {name: {} for name in self.stores}
        self._queue_url: str | None = None
        self._queue_arn: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one sync at a time (thread vs. final reconcile)

    # Start -------------------------------------------------------------------------------------

    def restore(self) -> dict[str, int]:
        """Put every object on disk back into its bucket; the buckets must exist."""
        counts = {}
        for bucket, store in self.stores.items():
            store.clear_partial()
            count = 0
            for stored in store.objects():
                extra = {k: stored.header[k] for k in _KEPT_HEADERS if stored.header.get(k)}
                with store.open_body(stored) as body:
                    out = self.s3.put_object(Bucket=bucket, Key=stored.key, Body=body,
                                             Metadata=stored.header.get("Metadata") or {}, **extra)
                self._etags[bucket][stored.key] = out["ETag"]
                count += 1
            counts[bucket] = count
        return counts

    def subscribe(self) -> None:
        """Create the mirror's queue and merge its notification into every bucket."""
        self._queue_url = self.sqs.create_queue(QueueName=MIRROR_ID, Attributes={
            "VisibilityTimeout": "10", "MessageRetentionPeriod": "86400"})["QueueUrl"]
        self._queue_arn = self.sqs.get_queue_attributes(
            QueueUrl=self._queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        for bucket in self.stores:
            merge_queue_notification(self.s3, bucket, MIRROR_ID, self._queue_arn, MIRROR_EVENTS)

    def start(self) -> dict[str, int]:
        """Restore, subscribe, and keep the disk copy current from a background thread."""
        counts = self.restore()
        self.subscribe()
        self._thread = threading.Thread(target=self._run, name="s3-mirror", daemon=True)
        self._thread.start()
        return counts

    # Running -----------------------------------------------------------------------------------

    def _run(self) -> None:
        next_check = time.monotonic() + self.check_every
        while not self._stop.is_set():
            try:
                self.drain_once(self.poll_seconds)
                if time.monotonic() >= next_check:
                    next_check = time.monotonic() + self.check_every
                    self._check_subscriptions()
            except (BotoCoreError, ClientError, OSError) as exc:
                log.warning("s3 mirror: sync failed, retrying", extra={"error": str(exc)})
                self._stop.wait(1.0)

    def drain_once(self, wait_seconds: int = 0) -> int:
        """Handle one batch of notifications; returns how many messages it handled."""
        assert self._queue_url is not None
        reply = self.sqs.receive_message(QueueUrl=self._queue_url, MaxNumberOfMessages=10,
                                         WaitTimeSeconds=wait_seconds)
        messages = reply.get("Messages", [])
        keys: set[tuple[str, str]] = set()
        for message in messages:
            keys |= set(_keys_of(message.get("Body", "")))
        for bucket, key in sorted(keys):
            if bucket in self.stores:
                self.sync_key(bucket, key)
        if messages:
            self.sqs.delete_message_batch(QueueUrl=self._queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
        return len(messages)

    def sync_key(self, bucket: str, key: str) -> None:
        """Make the disk copy of one key what S3 holds now (or remove it)."""
        with self._lock:
            store = self.stores[bucket]
            try:
                obj = self.s3.get_object(Bucket=bucket, Key=key)
            except ClientError as exc:
                if not _missing(exc):
                    raise
                store.delete(key)
                self._etags[bucket].pop(key, None)
                return
            header = {k: obj[k] for k in _KEPT_HEADERS if obj.get(k)}
            header |= {"Metadata": obj.get("Metadata") or {}, "ETag": obj.get("ETag")}
            with contextlib.closing(obj["Body"]) as body:
                store.write(key, header, iter(lambda: body.read(_CHUNK), b""))
            self._etags[bucket][key] = obj.get("ETag", "")

    def reconcile(self, bucket: str) -> tuple[int, int]:
        """Compare a full listing with the disk copy; returns (objects fetched, objects removed)."""
        listed: dict[str, str] = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            listed |= {o["Key"]: o["ETag"] for o in page.get("Contents", [])}
        known = dict(self._etags[bucket])
        fetched = [k for k, etag in listed.items() if known.get(k) != etag]
        removed = [k for k in known if k not in listed]
        for key in fetched + removed:
            self.sync_key(bucket, key)
        return len(fetched), len(removed)

    def _check_subscriptions(self) -> None:
        assert self._queue_arn is not None
        for bucket in self.stores:
            if not has_queue_notification(self.s3, bucket, MIRROR_ID):
                log.warning("s3 mirror: the bucket's notification configuration lost the mirror; "
                            "re-adding it (merge, don't overwrite)", extra={"bucket": bucket})
                merge_queue_notification(self.s3, bucket, MIRROR_ID, self._queue_arn, MIRROR_EVENTS)
                self.reconcile(bucket)

    # Stop --------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Final drain and reconcile; S3 must still be up."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.poll_seconds + 30)
            self._thread = None
        if self._queue_url is None:
            return
        try:
            while self.drain_once(0):
                continue  # until the queue is empty
            for bucket in self.stores:
                fetched, removed = self.reconcile(bucket)
                if fetched or removed:
                    log.info("s3 mirror: reconciled at shutdown",
                             extra={"bucket": bucket, "fetched": fetched, "removed": removed})
        except (BotoCoreError, ClientError, OSError) as exc:
            log.error("s3 mirror: final sync failed; objects written in the last second may be lost",
                      extra={"error": str(exc)})


def _keys_of(body: str) -> Iterator[tuple[str, str]]:
    """(bucket, key) of each record of an S3 event notification; test events have none."""
    try:
        event = json.loads(body)
    except ValueError:
        return
    for record in event.get("Records", []) if isinstance(event, dict) else []:
        s3 = record.get("s3") or {}
        bucket, key = (s3.get("bucket") or {}).get("name"), (s3.get("object") or {}).get("key")
        if bucket and key is not None:
            yield bucket, unquote_plus(key)
