"""The local `@connections` and Lambda Invoke APIs answer only requests signed with the stack's credentials.

Both listen on 127.0.0.1, where anyone on the machine can call them: an unsigned or wrongly signed request must not
inject a frame into a user's socket, read or close the connection, or invoke a function (issue 11, item 12). What
boto3 signs with the stack's credentials works as before (the fixtures' functions answer through it).
"""

import asyncio
import json
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from websockets.asyncio.client import connect

from tests.local.test_lambda_invoke import WORKER, LambdaStack, lam  # noqa: F401 - the fixture
from tests.local.test_websocket import WsStack, connection_id, recv, ws  # noqa: F401 - the fixture


def refused(r: httpx.Response) -> str:
    assert r.status_code == 403, (r.request.method, r.request.url, r.text)
    return r.headers.get("x-amzn-errortype", "")


async def test_connections_refuse_unsigned_and_wrongly_signed_requests(ws: WsStack) -> None:  # noqa: F811
    async with connect(ws.url) as client:
        conn = await connection_id(client)  # the function answered through boto3, signed: that works
        url = f"{ws.management_url}/@connections/{conn}"
        async with httpx.AsyncClient(timeout=10) as http:
            refused(await http.post(url, content=b'{"type": "text", "text": "injected"}'))
            refused(await http.get(url))
            refused(await http.delete(url))
            forged = {"Authorization": "AWS4-HMAC-SHA256 Credential=local/20260101/eu-north-1/execute-api/"
                                       "aws4_request, SignedHeaders=host;x-amz-date, Signature=" + "0" * 64,
                      "X-Amz-Date": "20260101T000000Z"}
            refused(await http.post(url, content=b"injected", headers=forged))
        stranger = boto3.client("apigatewaymanagementapi", endpoint_url=ws.management_url, region_name="eu-north-1",
                                aws_access_key_id="local", aws_secret_access_key="guessed",
                                config=Config(retries={"max_attempts": 1}))
        with pytest.raises(ClientError) as wrong:
            await asyncio.to_thread(stranger.post_to_connection, ConnectionId=conn, Data=b"injected")
        assert wrong.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        with pytest.raises(TimeoutError):  # nothing of the above reached the socket, which is still open
            await asyncio.wait_for(client.recv(), 0.5)
        await asyncio.to_thread(ws.management().post_to_connection, ConnectionId=conn, Data=b"signed")
        assert await recv(client) == "signed"


async def test_the_invoke_api_refuses_unsigned_and_wrongly_signed_requests(lam: LambdaStack) -> None:  # noqa: F811
    payload = json.dumps({"marker": "forged"}).encode()
    async with httpx.AsyncClient(base_url=lam.url, timeout=10) as http:
        for name in (WORKER, "no-such-function"):  # the same answer: which functions exist is not told either
            for kind in ("RequestResponse", "Event"):
                r = await http.post(f"/2015-03-31/functions/{name}/invocations", content=payload,
                                    headers={"X-Amz-Invocation-Type": kind})
                assert refused(r) == "AccessDeniedException"
    stranger: Any = boto3.client("lambda", endpoint_url=lam.url, region_name="eu-north-1", aws_access_key_id="local",
                                 aws_secret_access_key="guessed", config=Config(retries={"max_attempts": 1}))
    with pytest.raises(ClientError) as wrong:
        await asyncio.to_thread(stranger.invoke, FunctionName=WORKER, InvocationType="Event", Payload=payload)
    assert wrong.value.response["Error"]["Code"] == "InvalidSignatureException"
    await asyncio.sleep(1.0)
    assert lam.runs("forged") == [], "no refused invoke ran"
    answer = await lam.invoke(FunctionName=WORKER, Payload=json.dumps({"marker": "signed"}).encode())
    assert json.loads(answer["Payload"].read()) == {"echo": {"marker": "signed"}}
