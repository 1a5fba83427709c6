"""AWS Signature Version 4 for the few requests the relay sends itself (`@connections` posts).

botocore's signer costs 0.3-2.5 ms a request here (it rebuilds the request, parses the URL twice and derives the
signing key every time); a relay signs one request per frame. This one signs the same way (the same canonical
request, so API Gateway, and the local stack's check, accept it: tests compare it with botocore's) and keeps the
derived key for its day, so a signature is two hashes and one HMAC.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from functools import lru_cache
from urllib.parse import quote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"


@lru_cache(maxsize=16)
def _signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    key = hmac.new(f"AWS4{secret_key}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def sign(method: str, url: str, body: bytes, *, access_key: str, secret_key: str, token: str | None,
         region: str, service: str, now: datetime | None = None) -> dict[str, str]:
    """The headers that sign `method url` with `body` (Host is signed and must be sent as the URL has it).

    `url` must be sent exactly as given: its path is signed as it is, encoded once more, as AWS does for every
    service but S3. A query string is not supported (no request here has one).
    """
    parts = urlsplit(url)
    if parts.query:
        raise ValueError("query strings are not signed here")
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    date = stamp[:8]
    headers = {"host": parts.netloc, "x-amz-date": stamp}
    if token:
        headers["x-amz-security-token"] = token
    names = sorted(headers)
    canonical = "\n".join([
        method.upper(), quote(parts.path or "/", safe="/~"), "",
        "".join(f"{name}:{headers[name].strip()}\n" for name in names), ";".join(names),
        hashlib.sha256(body).hexdigest()])
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = f"{ALGORITHM}\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    signature = hmac.new(_signing_key(secret_key, date, region, service), to_sign.encode(), hashlib.sha256).hexdigest()
    out = {"X-Amz-Date": stamp, "Authorization": f"{ALGORITHM} Credential={access_key}/{scope}, "
                                                 f"SignedHeaders={';'.join(names)}, Signature={signature}"}
    if token:
        out["X-Amz-Security-Token"] = token
    return out
