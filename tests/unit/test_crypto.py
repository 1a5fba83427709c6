"""Provider credentials at rest: only the right key, for the right row, gets the secret back."""

import uuid

import pytest

from eneo.core.crypto import CURRENT, DecryptionError, aad_for, decrypt_secret, encrypt_secret

KEY = "k" * 40
OTHER_KEY = "o" * 40
SECRET = "sk-live-0123456789abcdefghijklmnopqrstuv"


@pytest.fixture
def aad() -> bytes:
    return aad_for(uuid.uuid4(), uuid.uuid4())


def test_roundtrip_and_no_plaintext_inside(aad: bytes) -> None:
    blob = encrypt_secret(SECRET, aad, key=KEY)
    assert decrypt_secret(blob, aad, key=KEY) == SECRET
    assert SECRET.encode() not in blob and b"0123456789" not in blob
    assert blob[0] == CURRENT
    # A fresh nonce each time: the same secret never encrypts to the same bytes.
    assert encrypt_secret(SECRET, aad, key=KEY) != blob
    assert decrypt_secret(encrypt_secret("ü€", aad, key=KEY), aad, key=KEY) == "ü€"


def test_copied_to_another_row_or_tenant_fails(aad: bytes) -> None:
    tenant, provider = uuid.uuid4(), uuid.uuid4()
    blob = encrypt_secret(SECRET, aad_for(tenant, provider), key=KEY)
    for other in (aad_for(uuid.uuid4(), provider), aad_for(tenant, uuid.uuid4()), b""):
        with pytest.raises(DecryptionError):
            decrypt_secret(blob, other, key=KEY)


def test_wrong_key_fails(aad: bytes) -> None:
    blob = encrypt_secret(SECRET, aad, key=KEY)
    with pytest.raises(DecryptionError):
        decrypt_secret(blob, aad, key=OTHER_KEY)


@pytest.mark.parametrize("position", [0, 1, 13, -1])
def test_any_changed_byte_fails(aad: bytes, position: int) -> None:
    blob = bytearray(encrypt_secret(SECRET, aad, key=KEY))
    blob[position] ^= 0x01
    with pytest.raises(DecryptionError):
        decrypt_secret(bytes(blob), aad, key=KEY)


def test_truncated_fails(aad: bytes) -> None:
    blob = encrypt_secret(SECRET, aad, key=KEY)
    for cut in (blob[:5], blob[:-1], b""):
        with pytest.raises(DecryptionError):
            decrypt_secret(cut, aad, key=KEY)


def test_the_key_comes_from_settings_and_must_be_long(aad: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    from eneo.core.settings import get_settings

    monkeypatch.setenv("ENCRYPTION_KEY", KEY)
    get_settings.cache_clear()
    try:
        blob = encrypt_secret(SECRET, aad)
        assert decrypt_secret(blob, aad, key=KEY) == SECRET
        monkeypatch.setenv("ENCRYPTION_KEY", "short")
        get_settings.cache_clear()
        with pytest.raises(RuntimeError, match="ENCRYPTION_KEY"):
            encrypt_secret(SECRET, aad)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
