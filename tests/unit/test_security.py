import uuid

import pytest
from pydantic import SecretStr, ValidationError

from eneo.api_keys.service import new_key
from eneo.auth.principal import split_api_key
from eneo.core.errors import Unauthorized
from eneo.core.security import (
    create_access_token,
    decode_access_token,
    hash_password,
    token_hash,
    verify_password,
)
from eneo.core.settings import Settings


def settings(**kw: object) -> Settings:
    return Settings(jwt_secret=SecretStr("s" * 40), super_api_key=SecretStr("k" * 40), **kw)


def test_passwords_are_hashed_with_argon2_and_verified() -> None:
    hashed = hash_password("a long passphrase")
    assert hashed.startswith("$argon2id$") and "a long passphrase" not in hashed
    assert verify_password(hashed, "a long passphrase")
    assert not verify_password(hashed, "a long passphrasE")
    assert not verify_password(None, "anything")
    assert not verify_password("not-a-hash", "anything")


def test_access_token_carries_user_and_tenant() -> None:
    s = settings()
    user, tenant = uuid.uuid4(), uuid.uuid4()
    token, lifetime = create_access_token(s, user_id=user, tenant_id=tenant, session_id=uuid.uuid4())
    claims = decode_access_token(s, token)
    assert (claims["sub"], claims["tid"]) == (str(user), str(tenant))
    assert lifetime == s.jwt_expiry_minutes * 60


def test_an_access_token_may_live_a_fraction_of_a_minute_but_not_under_six_seconds(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_EXPIRY_MINUTES", "0.25")  # as an operator (or a test's stack) sets it
    token, lifetime = create_access_token(settings(), user_id=uuid.uuid4(), tenant_id=uuid.uuid4(),
                                          session_id=uuid.uuid4())
    claims = decode_access_token(settings(), token)
    assert lifetime == 15 and claims["exp"] - claims["iat"] == 15
    monkeypatch.setenv("JWT_EXPIRY_MINUTES", "0.05")
    with pytest.raises(ValidationError, match="jwt_expiry_minutes"):
        settings()


def test_token_signed_with_another_secret_is_refused() -> None:
    token, _ = create_access_token(settings(), user_id=uuid.uuid4(), tenant_id=uuid.uuid4(), session_id=uuid.uuid4())
    other = Settings(jwt_secret=SecretStr("o" * 40), super_api_key=SecretStr("k" * 40))
    with pytest.raises(Unauthorized) as err:
        decode_access_token(other, token)
    assert err.value.code == "invalid_token"


def test_expired_token_says_so() -> None:
    s = settings(jwt_expiry_minutes=1)
    token, _ = create_access_token(s, user_id=uuid.uuid4(), tenant_id=uuid.uuid4(), session_id=uuid.uuid4())
    import jwt

    claims = jwt.decode(token, options={"verify_signature": False})
    claims["exp"] = claims["iat"] - 10
    expired = jwt.encode(claims, "s" * 40, algorithm="HS256")
    with pytest.raises(Unauthorized) as err:
        decode_access_token(s, expired)
    assert err.value.code == "token_expired"


def test_new_api_keys_split_into_their_prefix_and_differ() -> None:
    key, prefix = new_key()
    assert key.startswith(prefix + "_")
    assert split_api_key(key) == prefix
    assert new_key()[0] != key


@pytest.mark.parametrize("bad", ["", "eneo", "eneo__secretsecretsecretsecret", "other_abc_secretsecretsecretsecret",
                                 "eneo_abc_short"])
def test_malformed_api_keys_have_no_prefix(bad: str) -> None:
    assert split_api_key(bad) is None


def test_token_hash_depends_on_the_pepper() -> None:
    assert token_hash("k", b"p1") != token_hash("k", b"p2")
    assert token_hash("k", b"p1") == token_hash("k", b"p1")


def test_short_secrets_are_refused_at_start() -> None:
    with pytest.raises(RuntimeError, match="JWT_SECRET"):
        Settings(jwt_secret=SecretStr("short"), super_api_key=SecretStr("k" * 40)).require_secrets()


@pytest.mark.parametrize("bad", ["eneo_abc_" + "x" * 30 + "\x00", "eneo_abc_" + "é" * 30, "eneo_abc_" + "x" * 300])
def test_api_keys_with_characters_we_never_issue_are_refused_before_any_lookup(bad: str) -> None:
    assert split_api_key(bad) is None
