"""Objects survive a restart of the embedded S3: a real moto server, stopped and started again."""

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from eneo_local.s3_mirror import (
    MIRROR_ID,
    ObjectStore,
    S3Mirror,
    aws_clients,
    ensure_bucket,
    merge_queue_notification,
)
from eneo_local.services import free_port, wait_for_port
from eneo_local.template import BucketSpec

REGION = "eu-north-1"
BUCKET = BucketSpec("Docs", "t-docs", ({"AllowedMethods": ["PUT"], "AllowedOrigins": ["*"]},), {
    "BucketEncryption": {"ServerSideEncryptionConfiguration": [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}})
KEYS = ["a", "a/b", "../up", "dir/", "å ä/ö+plus.txt", "x" * 600]


@pytest.fixture
def moto() -> Iterator[Callable[[], str]]:
    """Starts moto servers on demand (each one empty, like a restart); stops them all at the end."""
    servers: list[subprocess.Popen[bytes]] = []

    def start() -> str:
        if servers:
            stop(servers[-1])
        port = free_port()
        servers.append(subprocess.Popen(  # noqa: S603 - fixed argv
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for_port(port)
        return f"http://127.0.0.1:{port}"

    def stop(server: subprocess.Popen[bytes]) -> None:
        server.terminate()
        server.wait(10)

    yield start
    for server in servers:
        if server.poll() is None:
            stop(server)


def started_mirror(endpoint: str, root: Path) -> S3Mirror:
    s3, _ = aws_clients(endpoint, REGION)
    ensure_bucket(s3, BUCKET, REGION)
    mirror = S3Mirror(endpoint, REGION, root, [BUCKET.name], check_every=0.5)
    mirror.start()
    return mirror


def wait_until(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the mirror did not catch up"
        time.sleep(0.05)


def on_disk(root: Path) -> dict[str, bytes]:
    store = ObjectStore(root, BUCKET.name)
    out = {}
    for stored in store.objects():
        with store.open_body(stored) as body:
            out[stored.key] = body.read()
    return out


def test_objects_survive_a_restart(moto: Callable[[], str], tmp_path: Path) -> None:
    endpoint = moto()
    mirror = started_mirror(endpoint, tmp_path)
    s3, _ = aws_clients(endpoint, REGION)
    for i, key in enumerate(KEYS):
        s3.put_object(Bucket=BUCKET.name, Key=key, Body=f"body {i}".encode(), ContentType="text/x-test",
                      Metadata={"n": str(i)})
    s3.copy_object(Bucket=BUCKET.name, Key="copy", CopySource={"Bucket": BUCKET.name, "Key": "a"})
    s3.delete_object(Bucket=BUCKET.name, Key="a/b")
    url = s3.generate_presigned_url("put_object", Params={
        "Bucket": BUCKET.name, "Key": "uploads/doc.pdf", "ContentType": "application/pdf"})
    assert httpx.put(url, content=b"%PDF-1.7 bytes", headers={"Content-Type": "application/pdf"}).status_code == 200
    expected = {k: f"body {i}".encode() for i, k in enumerate(KEYS) if k != "a/b"}
    expected |= {"copy": b"body 0", "uploads/doc.pdf": b"%PDF-1.7 bytes"}
    wait_until(lambda: on_disk(tmp_path) == expected)  # kept current while running
    mirror.stop()

    endpoint = moto()  # a new, empty S3
    s3, _ = aws_clients(endpoint, REGION)
    mirror = started_mirror(endpoint, tmp_path)
    try:
        listed = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET.name)["Contents"]}
        assert listed == set(expected)
        for key, body in expected.items():
            obj = s3.get_object(Bucket=BUCKET.name, Key=key)
            assert obj["Body"].read() == body
        doc = s3.head_object(Bucket=BUCKET.name, Key="uploads/doc.pdf")
        assert doc["ContentType"] == "application/pdf"
        first = s3.head_object(Bucket=BUCKET.name, Key="a")
        assert (first["ContentType"], first["Metadata"]) == ("text/x-test", {"n": "0"})
        assert s3.get_bucket_cors(Bucket=BUCKET.name)["CORSRules"][0]["AllowedMethods"] == ["PUT"]
    finally:
        mirror.stop()


def test_others_notifications_are_kept_and_ours_comes_back(moto: Callable[[], str], tmp_path: Path) -> None:
    endpoint = moto()
    s3, sqs = aws_clients(endpoint, REGION)
    ensure_bucket(s3, BUCKET, REGION)
    ingest = sqs.create_queue(QueueName="ingest")["QueueUrl"]
    ingest_arn = sqs.get_queue_attributes(QueueUrl=ingest, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    merge_queue_notification(s3, BUCKET.name, "ingest", ingest_arn, ["s3:ObjectCreated:*"],
                             {"Key": {"FilterRules": [{"Name": "prefix", "Value": "uploads/"}]}})
    mirror = S3Mirror(endpoint, REGION, tmp_path, [BUCKET.name], check_every=0.2)
    mirror.start()
    try:
        ids = {q["Id"] for q in s3.get_bucket_notification_configuration(Bucket=BUCKET.name)["QueueConfigurations"]}
        assert ids == {"ingest", MIRROR_ID}
        # Someone overwrites the configuration instead of merging: the mirror notices, re-adds
        # itself, and reconciles what it missed meanwhile.
        s3.put_bucket_notification_configuration(Bucket=BUCKET.name, NotificationConfiguration={
            "QueueConfigurations": [{"Id": "ingest", "QueueArn": ingest_arn, "Events": ["s3:ObjectCreated:*"]}]})
        s3.put_object(Bucket=BUCKET.name, Key="uploads/missed", Body=b"missed")
        wait_until(lambda: on_disk(tmp_path) == {"uploads/missed": b"missed"})
        config = s3.get_bucket_notification_configuration(Bucket=BUCKET.name)["QueueConfigurations"]
        assert {q["Id"] for q in config} == {"ingest", MIRROR_ID}
    finally:
        mirror.stop()
    assert sqs.receive_message(QueueUrl=ingest, MaxNumberOfMessages=10).get("Messages"), "ingest still notified"


def test_final_sync_catches_what_notifications_missed(moto: Callable[[], str], tmp_path: Path) -> None:
    endpoint = moto()
    mirror = started_mirror(endpoint, tmp_path)
    s3, _ = aws_clients(endpoint, REGION)
    s3.put_object(Bucket=BUCKET.name, Key="kept", Body=b"1")
    wait_until(lambda: "kept" in on_disk(tmp_path))
    s3.put_bucket_notification_configuration(Bucket=BUCKET.name, NotificationConfiguration={})
    s3.put_object(Bucket=BUCKET.name, Key="late", Body=b"2")
    s3.delete_object(Bucket=BUCKET.name, Key="kept")
    mirror.check_every = 3600  # no repair before the stop: only the final reconcile can save it
    mirror.stop()
    assert on_disk(tmp_path) == {"late": b"2"}


def test_interrupted_writes_leave_no_trace(tmp_path: Path) -> None:
    store = ObjectStore(tmp_path, "b")
    store.write("k", {"ContentType": "text/plain"}, [b"old"])

    def failing() -> Iterator[bytes]:
        yield b"new"
        raise RuntimeError("the download broke off")

    with pytest.raises(RuntimeError):
        store.write("k", {}, failing())
    assert [s.key for s in store.objects()] == ["k"]
    with store.open_body(next(store.objects())) as body:
        assert body.read() == b"old"
    assert not list(store.dir.glob("??/.incoming-*"))
