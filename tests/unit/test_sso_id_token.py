"""The ID token checks of eneo.sso.oidc on tokens signed here with a fresh key: a token from another sign-in
(nonce), for another client (audience), from another issuer, unsigned, or signed by a key the provider does not
publish is refused; the right one gives its claims. The whole flow runs in tests/integration/test_sso.py."""

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from eneo.sso.oidc import TokenRefused, new_verifier, verify_id_token

ISSUER, CLIENT = "https://login.kommun.example", "eneo"


def _key() -> tuple[Any, dict[str, Any]]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key(), as_dict=True) | {"kid": "k1", "use": "sig"}
    return private, {"keys": [public]}


KEY, JWKS = _key()
OTHER_KEY, _ = _key()


def token(key: Any = KEY, alg: str = "RS256", **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": CLIENT, "sub": "s-1", "iat": now, "exp": now + 300, "nonce": "n-1"} | claims
    return jwt.encode(body, key, algorithm=alg, headers={"kid": "k1"})


def check(id_token: str) -> dict[str, Any]:
    return verify_id_token(id_token, JWKS, issuer=ISSUER, client_id=CLIENT, nonce="n-1")


def test_a_good_token_gives_its_claims() -> None:
    assert check(token(email="a@kommun.example"))["email"] == "a@kommun.example"


@pytest.mark.parametrize("bad", [
    token(nonce="n-2"), token(aud="another-client"), token(iss="https://evil.example"),
    token(exp=int(time.time()) - 3600), token(key=OTHER_KEY),
    token(key="a-shared-secret-of-32-bytes-long!", alg="HS256"),
    jwt.encode({"iss": ISSUER, "aud": CLIENT, "sub": "s", "nonce": "n-1", "iat": 0, "exp": 2**31}, None,
               algorithm="none"),
], ids=["nonce", "audience", "issuer", "expired", "unknown-key", "hs256", "unsigned"])
def test_a_token_failing_a_check_is_refused(bad: str) -> None:
    with pytest.raises(TokenRefused) as refused:
        check(bad)
    assert refused.value.code == "sso_token_refused"


def test_the_pkce_challenge_is_the_verifiers_s256() -> None:
    import base64
    import hashlib

    verifier, challenge = new_verifier()
    assert 43 <= len(verifier) <= 128
    assert challenge == base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
