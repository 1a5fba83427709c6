"""The local Lambda Invoke API through boto3's own lambda client, with real worker processes.

The worker function of tests/local/fixtures/websocket writes a line per run to a file, so the
tests can see an asynchronous invoke happen, and count its retries.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from eneo_local.gateway import GatewayServer
from eneo_local.lambda_api import AsyncInvoker, LambdaApi
from eneo_local.template import load_template
from eneo_local.workers import FunctionHost

FIXTURE = Path(__file__).parent / "fixtures" / "websocket" / "template.yaml"
WORKER = "t-worker"


@dataclass
class LambdaStack:
    url: str
    record: Path
    invoker: AsyncInvoker

    def client(self) -> Any:
        return boto3.client("lambda", endpoint_url=self.url, region_name="eu-north-1", aws_access_key_id="local",
                            aws_secret_access_key="local", config=Config(retries={"max_attempts": 1}))

    def runs(self, marker: str) -> list[dict[str, Any]]:
        path = self.record / "worker-runs.jsonl"
        lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
        return [r for r in lines if isinstance(r["event"], dict) and r["event"].get("marker") == marker]

    async def invoke(self, **kwargs: Any) -> dict[str, Any]:
        result: dict[str, Any] = await asyncio.to_thread(self.client().invoke, **kwargs)
        return result


@pytest.fixture(scope="module")
async def lam(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LambdaStack]:
    record = tmp_path_factory.mktemp("lambda-record")
    template = load_template(FIXTURE, {"RecordDir": str(record)}, stack_name="t")
    functions = FunctionHost(template, {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"},
                             max_concurrency=2)
    invoker = AsyncInvoker(functions, retry_delays=(0.2, 0.4))
    server = GatewayServer(port=0)
    try:
        await functions.start(prewarm=False)
        url = await server.start(LambdaApi(template, functions, invoker))
        yield LambdaStack(url, record, invoker)
    finally:
        await server.stop()
        await invoker.close()
        await functions.close()


async def test_request_response_returns_the_result(lam: LambdaStack) -> None:
    answer = await lam.invoke(FunctionName=WORKER, Payload=json.dumps({"marker": "sync", "n": 1}).encode())
    assert answer["StatusCode"] == 200 and "FunctionError" not in answer
    assert answer["ExecutedVersion"] == "$LATEST"
    assert json.loads(answer["Payload"].read()) == {"echo": {"marker": "sync", "n": 1}}
    arn = f"arn:aws:lambda:eu-north-1:123456789012:function:{WORKER}"
    for name in (arn, f"123456789012:function:{WORKER}", f"{WORKER}:$LATEST"):
        answer = await lam.invoke(FunctionName=name, Payload=b'"just a string"')
        assert json.loads(answer["Payload"].read()) == {"echo": "just a string"}, name
    (run,) = lam.runs("sync")
    assert run["function"] == WORKER


async def test_function_error_is_unhandled_with_the_error_payload(lam: LambdaStack) -> None:
    answer = await lam.invoke(FunctionName=WORKER, Payload=json.dumps({"marker": "sync-fail", "fail": True}))
    assert (answer["StatusCode"], answer["FunctionError"]) == (200, "Unhandled")
    error = json.loads(answer["Payload"].read())
    assert (error["errorType"], error["errorMessage"]) == ("ValueError", "asked to fail")
    assert error["stackTrace"] and error["requestId"]
    assert len(lam.runs("sync-fail")) == 1, "a synchronous invoke is never retried"
    answer = await lam.invoke(FunctionName=WORKER, Payload=json.dumps({"marker": "sync-slow", "sleep": 5}))
    assert answer["FunctionError"] == "Unhandled"
    assert "Task timed out after 2.00 seconds" in json.loads(answer["Payload"].read())["errorMessage"]


async def test_event_is_accepted_and_runs(lam: LambdaStack) -> None:
    answer = await lam.invoke(FunctionName=WORKER, InvocationType="Event",
                              Payload=json.dumps({"marker": "event", "sleep": 1}))
    assert answer["StatusCode"] == 202 and answer["Payload"].read() == b""
    assert lam.invoker.pending == 1, "the caller does not wait for the function"
    assert await lam.invoker.join(15)
    (run,) = lam.runs("event")
    assert run["event"] == {"marker": "event", "sleep": 1}


async def test_failed_event_is_retried_twice(lam: LambdaStack) -> None:
    await lam.invoke(FunctionName=WORKER, InvocationType="Event", Payload=json.dumps({"marker": "retry", "fail": 1}))
    assert await lam.invoker.join(15)
    runs = lam.runs("retry")
    assert len(runs) == 3, "the first attempt and Lambda's two retries"
    assert len({r["request_id"] for r in runs}) == 1, "retries keep the request id"


async def test_event_invoke_config_limits_retries(lam: LambdaStack) -> None:
    await lam.invoke(FunctionName="t-OnceFunction", InvocationType="Event",
                     Payload=json.dumps({"marker": "once", "fail": 1}))
    assert await lam.invoker.join(15)
    assert len(lam.runs("once")) == 1, "MaximumRetryAttempts: 0"


async def test_dry_run_and_errors_boto3_understands(lam: LambdaStack) -> None:
    answer = await lam.invoke(FunctionName=WORKER, InvocationType="DryRun", Payload=b'{"marker": "dry"}')
    assert answer["StatusCode"] == 204 and lam.runs("dry") == []
    client = lam.client()
    for name in ("t-nothing", "arn:aws:lambda:eu-north-1:999999999999:function:t-worker", f"{WORKER}:v1"):
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            await asyncio.to_thread(client.invoke, FunctionName=name, Payload=b"{}")
    with pytest.raises(ClientError) as too_large:
        await asyncio.to_thread(client.invoke, FunctionName=WORKER, InvocationType="Event",
                                Payload=json.dumps({"marker": "big", "x": "x" * 256 * 1024}))
    assert too_large.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert too_large.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    with pytest.raises(client.exceptions.InvalidRequestContentException):
        await asyncio.to_thread(client.invoke, FunctionName=WORKER, Payload=b"{not json")
    assert lam.runs("big") == []
