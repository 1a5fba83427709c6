"""The FaaS images' server (eneo_local.faas) over real HTTP: what OpenFaaS, MinIO's webhook, the cron-connector
and the queue-worker send becomes the event Lambda would hand the handler, and its result the right answer."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from fastapi import FastAPI, Request, Response
from mangum import Mangum

from eneo_local.faas import Config, FunctionServer
from eneo_local.schedules import scheduled_event, schedules_of
from tests.project_template import project_template

MINIO_RECORD = {"eventVersion": "2.0", "eventSource": "minio:s3", "awsRegion": "",
                "eventName": "s3:ObjectCreated:Put",
                "s3": {"bucket": {"name": "docs"},
                       "object": {"key": "tenants%2Ft%2Fgroups%2Fg%2Fblobs%2Fb", "size": 5}}}
MINIO_BODY = {"EventName": "s3:ObjectCreated:Put", "Key": "docs/tenants/t/groups/g/blobs/b", "Records": [MINIO_RECORD]}


class Running:
    """A FunctionServer on a free port; its handler loop in a thread with an event loop of its own."""

    def __init__(self, kind: str, handler: Any) -> None:
        self.events: list[Any] = []

        def recording(event: Any, context: Any) -> Any:
            self.events.append(event)
            self.remaining_ms = context.get_remaining_time_in_millis()
            return handler(event, context)

        self.server = FunctionServer(Config(kind=kind, port=0, timeout_s=10, function_name="eneo-test"), recording)
        self.url = f"http://127.0.0.1:{self.server.port}"

        def loop() -> None:
            asyncio.set_event_loop(asyncio.new_event_loop())
            self.server.run_jobs()

        self.threads = [threading.Thread(target=loop, daemon=True),
                        threading.Thread(target=self.server.httpd.serve_forever, daemon=True)]
        for t in self.threads:
            t.start()

    def close(self) -> None:
        self.server.stop()
        self.server.httpd.shutdown()
        self.server.httpd.server_close()


def serve(kind: str, handler: Any) -> Iterator[Running]:
    running = Running(kind, handler)
    yield running
    running.close()


def _app() -> FastAPI:
    app = FastAPI()

    @app.post("/api/v1/echo/{name}")
    async def echo(name: str, request: Request) -> Response:
        body = await request.json()
        return Response(json.dumps({"name": name, "q": request.query_params.getlist("q"), "body": body,
                                    "cookie": request.cookies.get("s")}), status_code=201,
                        media_type="application/json", headers={"x-seen": "yes"})

    return app


@pytest.fixture
def http_fn() -> Iterator[Running]:
    yield from serve("http", Mangum(_app(), lifespan="off"))


def test_http_request_reaches_fastapi_through_a_v2_event(http_fn: Running) -> None:
    answer = httpx.post(f"{http_fn.url}/api/v1/echo/x%20y?q=1&q=2", json={"a": 1}, cookies={"s": "c1"})
    assert answer.status_code == 201
    assert answer.headers["x-seen"] == "yes"
    assert answer.json() == {"name": "x y", "q": ["1", "2"], "body": {"a": 1}, "cookie": "c1"}
    event = http_fn.events[-1]
    assert event["version"] == "2.0" and event["rawPath"] == "/api/v1/echo/x%20y"
    assert event["requestContext"]["http"]["method"] == "POST" and event["cookies"] == ["s=c1"]
    assert 0 < http_fn.remaining_ms <= 10_000  # the function's timeout, as Lambda's context reports it


def test_unknown_route_is_the_apps_own_404(http_fn: Running) -> None:
    assert httpx.get(f"{http_fn.url}/api/v1/nothing").status_code == 404


def test_health_route_answers_once_the_handler_is_loaded(http_fn: Running) -> None:
    answer = httpx.get(f"{http_fn.url}/_/health")
    assert (answer.status_code, answer.text) == (200, "OK")
    assert http_fn.events == []  # the probe never reaches the handler


def _batch(failures: list[str]) -> Any:
    return lambda event, context: {"batchItemFailures": [{"itemIdentifier": f} for f in failures]}


def test_minio_webhook_body_is_the_ingest_event_as_posted() -> None:
    for running in serve("records", _batch([])):
        answer = httpx.post(running.url, json=MINIO_BODY)
        assert answer.status_code == 200 and answer.json() == {"batchItemFailures": []}
        assert running.events == [MINIO_BODY]


def test_failed_records_answer_500_so_minio_delivers_again() -> None:
    for running in serve("records", _batch(["docs/tenants/t/groups/g/blobs/b"])):
        answer = httpx.post(running.url, json=MINIO_BODY)
        assert answer.status_code == 500
        assert answer.json()["batchItemFailures"] == [{"itemIdentifier": "docs/tenants/t/groups/g/blobs/b"}]


@pytest.mark.parametrize(("body", "message"), [
    (b"", "the request has no body: expected a JSON event"),
    (b"{not json", "the body is not JSON (Expecting property name enclosed in double quotes at 1)"),
    (b"[1]", "the event must be a JSON object"),
    (b'{"Key": "x"}', "expected S3 or SQS records: a JSON object with a 'Records' list"),
])
def test_records_that_are_not_an_event_get_400_with_the_reason(body: bytes, message: str) -> None:
    for running in serve("records", _batch([])):
        answer = httpx.post(running.url, content=body, headers={"content-type": "application/json"})
        assert (answer.status_code, answer.json()) == (400, {"message": message})
        assert httpx.get(running.url).json() == {"message": "records functions take POST, not GET"}
        assert running.events == []


def test_handler_error_is_a_500_without_its_message() -> None:
    def broken(event: Any, context: Any) -> Any:
        raise RuntimeError("secret detail")

    for running in serve("records", broken):
        answer = httpx.post(running.url, json=MINIO_BODY)
        assert (answer.status_code, answer.json()) == (500, {"message": "Internal Server Error"})


def test_cron_connector_post_becomes_the_local_stacks_scheduled_event() -> None:
    for running in serve("schedule", lambda event, context: {"tenants": 0}):
        assert httpx.post(running.url, content=b"").json() == {"tenants": 0}
    template = project_template()
    spec = next(s for s in schedules_of(template) if s.function == "SweepFunction")
    local = scheduled_event(spec, template)
    ours = running.events[0]
    assert set(ours) == set(local)
    assert {k: ours[k] for k in ("detail-type", "source", "detail", "version")} == \
           {k: local[k] for k in ("detail-type", "source", "detail", "version")}
    assert ours["resources"][0].startswith("arn:aws:events:")


def test_lambda_async_invoke_from_boto3_is_accepted_then_run() -> None:
    done = threading.Event()

    def complete(event: Any, context: Any) -> None:
        done.set()

    for running in serve("invoke", complete):
        client = boto3.client("lambda", endpoint_url=running.url, region_name="us-east-1",
                              aws_access_key_id="x", aws_secret_access_key="y")
        answer = client.invoke(FunctionName="complete", InvocationType="Event",
                               Payload=json.dumps({"tenant_id": "t", "question_id": "q"}).encode())
        assert answer["StatusCode"] == 202
        assert done.wait(10)
        assert running.events == [{"tenant_id": "t", "question_id": "q"}]


def test_queue_worker_delivery_waits_for_the_result() -> None:
    for running in serve("invoke", lambda event, context: {"ok": event["question_id"]}):
        answer = httpx.post(f"{running.url}/", json={"tenant_id": "t", "question_id": "q"})
        assert (answer.status_code, answer.json()) == (200, {"ok": "q"})


def test_unknown_event_kind_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="ENEO_EVENT='sqs': expected one of http, records, schedule, invoke"):
        Config.from_env({"ENEO_EVENT": "sqs"})
