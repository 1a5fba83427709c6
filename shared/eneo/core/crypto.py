"""Encryption at rest for secrets the platform must use later (model providers' API keys).

Unlike passwords and our own API keys, which are only ever compared and so are hashed, a
provider's key has to be sent to the provider: it is encrypted, not hashed.

Format of a stored value: `version (1 byte) || nonce (12 bytes) || AES-256-GCM ciphertext+tag`.

* The key is derived from `ENCRYPTION_KEY` with HKDF-SHA256, so the setting can be any long random
  string, and a derived key serves this one purpose only (`info`).
* The caller's associated data (tenant id + provider id) is authenticated, not stored: a ciphertext
  copied into another row or tenant fails to decrypt instead of handing over someone else's key.
* The version byte (also authenticated) names the key. Rotation: give the new key version 2 in
  `_KEYS` (e.g. read from a second setting), keep version 1 for decryption, re-encrypt every row
  (`decrypt_secret` then `encrypt_secret`, which always writes `CURRENT`), then retire version 1.
"""

import os
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from eneo.core.settings import get_settings

CURRENT = 1
_NONCE = 12
_INFO = b"eneo provider credentials"


class DecryptionError(Exception):
    """The value was not made by us with this key for this row (wrong key, wrong row, or tampered)."""


@lru_cache(maxsize=8)
def _cipher(secret: str) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret.encode())
    return AESGCM(key)


def _key(version: int, secret: str | None) -> AESGCM:
    if version != CURRENT:
        raise DecryptionError(f"unknown key version {version}")
    secret = secret if secret is not None else get_settings().encryption_key.get_secret_value()
    if len(secret) < 32:
        raise RuntimeError("ENCRYPTION_KEY must be set to at least 32 characters")
    return _cipher(secret)


def aad_for(*parts: object) -> bytes:
    """Associated data binding a value to its place, e.g. `aad_for(tenant_id, provider_id)`."""
    return "|".join(str(p) for p in parts).encode()


def encrypt_secret(plain: str, aad: bytes, *, key: str | None = None) -> bytes:
    """Encrypt with the current key; `key` overrides the setting (tests, rotation scripts)."""
    nonce = os.urandom(_NONCE)
    header = bytes([CURRENT])
    return header + nonce + _key(CURRENT, key).encrypt(nonce, plain.encode(), header + aad)


def decrypt_secret(blob: bytes, aad: bytes, *, key: str | None = None) -> str:
    """The plaintext, or DecryptionError; never says which part was wrong."""
    if len(blob) < 1 + _NONCE + 16:
        raise DecryptionError("value too short")
    header, nonce, body = blob[:1], blob[1:1 + _NONCE], blob[1 + _NONCE:]
    try:
        return _key(header[0], key).decrypt(nonce, body, header + aad).decode()
    except InvalidTag:
        raise DecryptionError("value does not decrypt with this key and associated data") from None
