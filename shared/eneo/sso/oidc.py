"""The relying party's side of OpenID Connect's authorization code flow with PKCE (RFC 7636).

Discovery document, token request and ID token checks; the ID token is verified with PyJWT against the
provider's JWKS (signature, issuer, audience, expiry) and its nonce against the one this sign-in sent. Every
request to the provider goes through the outbound rule (eneo.core.outbound_http): an issuer on a private address
works only when the deployment allows that host (OUTBOUND_ALLOWED_HOSTS).
"""

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx2
import jwt

from eneo.core.errors import AppError
from eneo.core.outbound import OutboundRefused

# Asymmetric algorithms only: "none" and HS256 (keyed with the client secret, easy to get wrong) are refused.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
TIMEOUT_SECONDS = 10.0


class ProviderFailed(AppError):
    """The provider could not be reached or answered something unusable (502)."""

    status, code = 502, "sso_provider_error"


class TokenRefused(AppError):
    """The provider refused the code, or its ID token failed a check: nobody is signed in (401)."""

    status, code = 401, "sso_token_refused"


@dataclass(frozen=True)
class Discovery:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


def new_verifier() -> tuple[str, str]:
    """A PKCE code verifier (43 characters of 32 random bytes) and its S256 challenge."""
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _client() -> httpx2.AsyncClient:
    from eneo.core.outbound_http import GuardedTransport

    limits = httpx2.Limits(max_connections=2, max_keepalive_connections=2)
    return httpx2.AsyncClient(transport=GuardedTransport(limits), follow_redirects=False,
                              timeout=httpx2.Timeout(TIMEOUT_SECONDS))


async def _json(request: Any, what: str) -> dict[str, Any]:
    try:
        response = await request
    except OutboundRefused:
        raise ProviderFailed(f"The provider's {what} is on an address this deployment does not connect to") from None
    except httpx2.HTTPError as exc:
        raise ProviderFailed(f"The provider's {what} could not be reached ({type(exc).__name__})") from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ProviderFailed(f"The provider's {what} did not answer JSON (HTTP {response.status_code})")
    if response.status_code >= 400:
        raise TokenRefused(f"The provider refused the sign-in: {str(body.get('error', 'error'))[:100]}")
    return body


async def discover(issuer: str) -> Discovery:
    """The provider's endpoints, from its discovery document, whose `issuer` must be the configured one."""
    async with _client() as client:
        doc = await _json(client.get(issuer.rstrip("/") + "/.well-known/openid-configuration"),
                          "discovery document")
    try:
        found = Discovery(doc["issuer"], doc["authorization_endpoint"], doc["token_endpoint"], doc["jwks_uri"])
    except KeyError as missing:
        raise ProviderFailed(f"The provider's discovery document has no {missing.args[0]}") from None
    if found.issuer.rstrip("/") != issuer.rstrip("/"):
        raise ProviderFailed("The provider's discovery document names another issuer")
    return found


def authorization_url(found: Discovery, *, client_id: str, scopes: str, redirect_uri: str, state: str, nonce: str,
                      challenge: str) -> str:
    query = urlencode({"response_type": "code", "client_id": client_id, "scope": scopes,
                       "redirect_uri": redirect_uri, "state": state, "nonce": nonce,
                       "code_challenge": challenge, "code_challenge_method": "S256"})
    separator = "&" if "?" in found.authorization_endpoint else "?"
    return f"{found.authorization_endpoint}{separator}{query}"


async def redeem(found: Discovery, *, client_id: str, client_secret: str | None, code: str, redirect_uri: str,
                 verifier: str, nonce: str) -> dict[str, Any]:
    """Exchange the code (with the PKCE verifier) for tokens; the verified ID token's claims."""
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "code_verifier": verifier, "client_id": client_id}
    async with _client() as client:
        post = (client.post(found.token_endpoint, data=form, auth=httpx2.BasicAuth(client_id, client_secret))
                if client_secret else client.post(found.token_endpoint, data=form))  # a public client: PKCE alone
        tokens = await _json(post, "token endpoint")
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise TokenRefused("The provider's answer has no ID token")
        jwks = await _json(client.get(found.jwks_uri), "key set")
    return verify_id_token(id_token, jwks, issuer=found.issuer, client_id=client_id, nonce=nonce)


def verify_id_token(id_token: str, jwks: dict[str, Any], *, issuer: str, client_id: str,
                    nonce: str) -> dict[str, Any]:
    """The ID token's claims once its signature (a key of `jwks`), issuer, audience, expiry and nonce hold."""
    try:
        header = jwt.get_unverified_header(id_token)
        keys = [k for k in jwt.PyJWKSet.from_dict(jwks).keys if header.get("kid") in (None, k.key_id)]
        if not keys:
            raise TokenRefused("The ID token is signed with a key the provider does not publish")
        claims: dict[str, Any] = jwt.decode(id_token, keys[0].key, algorithms=ALGORITHMS, audience=client_id,
                                            issuer=issuer, options={"require": ["exp", "iat", "sub", "aud", "iss"]},
                                            leeway=60)
    except (jwt.PyJWTError, json.JSONDecodeError, ValueError) as exc:
        raise TokenRefused(f"The ID token failed a check ({type(exc).__name__})") from None
    if not hmac.compare_digest(str(claims.get("nonce", "")).encode(), nonce.encode()):
        raise TokenRefused("The ID token's nonce is not this sign-in's")
    return claims
