"""The relay's own SigV4 signer signs exactly as botocore does (so API Gateway and the local stack accept it)."""

from datetime import UTC, datetime

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from eneo.realtime.sigv4 import sign


@pytest.mark.parametrize(("url", "token"), [
    ("https://abc123.execute-api.eu-north-1.amazonaws.com/live/@connections/L0SM9cOFvHcCIhw%3D", "session-token"),
    ("http://127.0.0.1:8001/live/@connections/a%2Fb%2Bc%3D", None),
    ("http://localhost:9000/2015-03-31/functions/eneo-ws/invocations", None),
])
def test_the_signature_is_botocores(url: str, token: str | None) -> None:
    body = '{"type": "text", "text": "Hej på dig"}'.encode()
    theirs = AWSRequest("POST", url, data=body)
    SigV4Auth(Credentials("AKIDEXAMPLE", "secret/key+1", token), "execute-api", "eu-north-1").add_auth(theirs)
    stamp = theirs.headers["X-Amz-Date"]
    ours = sign("POST", url, body, access_key="AKIDEXAMPLE", secret_key="secret/key+1", token=token,
                region="eu-north-1", service="execute-api",
                now=datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC))
    assert ours["Authorization"] == theirs.headers["Authorization"]
    assert ours.get("X-Amz-Security-Token") == theirs.headers.get("X-Amz-Security-Token")


def test_another_body_or_key_gives_another_signature() -> None:
    url, now = "http://127.0.0.1:8001/live/@connections/x", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    base = {"access_key": "A", "token": None, "region": "eu-north-1", "service": "execute-api", "now": now}
    one = sign("POST", url, b"a", secret_key="s", **base)["Authorization"]  # type: ignore[arg-type]
    assert one != sign("POST", url, b"b", secret_key="s", **base)["Authorization"]  # type: ignore[arg-type]
    assert one != sign("POST", url, b"a", secret_key="t", **base)["Authorization"]  # type: ignore[arg-type]
