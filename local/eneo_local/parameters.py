"""The values the local stack gives template.yaml's parameters, and the secrets it keeps for them.

Secrets are taken from the environment when set there; otherwise they are generated once and kept
in `<data_dir>/secrets.json` (mode 0600), so a restart keeps tokens and API keys valid.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from eneo_local.services import Endpoints

SECRETS_FILE = "secrets.json"
PASSWORD_FILE = "initial-admin-password"  # noqa: S105 - a file name
LOCAL_VISIBILITY_SECONDS = 5  # so a failed message is retried within seconds, not 15 minutes

# parameter name -> (environment variable, key in secrets.json)
_SECRET_PARAMETERS = {"JwtSecret": ("JWT_SECRET", "jwt_secret"), "SuperApiKey": ("SUPER_API_KEY", "super_api_key"),
                      "EncryptionKey": ("ENCRYPTION_KEY", "encryption_key")}
AWS_SECRET_KEY = "aws_secret_access_key"  # noqa: S105 - a key in secrets.json
_STORED = [*(key for _, key in _SECRET_PARAMETERS.values()), AWS_SECRET_KEY]


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, atomically (never a moment with wider permissions)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o600)  # in case it existed with other bits
    os.replace(tmp, path)


def make_private(root: Path) -> None:
    """Take group and other permissions off `root` and everything in it that this process's user owns: the data folder
    holds answers (Redis), documents (S3), secrets and logs, and older versions left them 0644 in a 0755 folder.

    What another user owns is left as it is, and a folder holding it stays traversable (0711: no listing, no reading):
    run as root, pgserver runs Postgres as its own user, which must reach its data folder (initdb made that 0700).
    """
    uid = os.geteuid()
    for folder, dirs, files in os.walk(root):
        path = Path(folder)
        foreign = [d for d in dirs if (path / d).lstat().st_uid != uid]
        dirs[:] = [d for d in dirs if d not in foreign]  # not into another user's folder
        path.chmod(0o711 if foreign else 0o700)
        for name in files:
            file = path / name
            info = file.lstat()
            if info.st_uid == uid and not stat.S_ISLNK(info.st_mode) and info.st_mode & 0o077:
                file.chmod(stat.S_IMODE(info.st_mode) & 0o700)


def stored_secrets(data_dir: Path) -> dict[str, str]:
    """secrets.json, created with fresh random values on first use."""
    path = data_dir / SECRETS_FILE
    if path.exists():
        values: dict[str, str] = json.loads(path.read_text())
    else:
        values = {}
    missing = [key for key in _STORED if not values.get(key)]
    if missing:
        values |= {key: secrets.token_urlsafe(48) for key in missing}
        data_dir.mkdir(parents=True, exist_ok=True)
        write_private(path, json.dumps(values, indent=2) + "\n")
    return values


def secret_values(data_dir: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """JWT_SECRET, SUPER_API_KEY and ENCRYPTION_KEY: from the environment, else from secrets.json.

    Losing ENCRYPTION_KEY makes the stored provider credentials unreadable: back secrets.json up
    with the data folder.
    """
    env = os.environ if env is None else env
    stored: dict[str, str] | None = None
    out = {}
    for var, key in _SECRET_PARAMETERS.values():
        if env.get(var):
            out[var] = env[var]
        else:
            stored = stored if stored is not None else stored_secrets(data_dir)
            out[var] = stored[key]
    return out


def stack_credentials(data_dir: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The AWS credentials of the stack's embedded S3/SQS, Lambda Invoke and @connections APIs, which check every
    request's signature with them (eneo_local.sigv4), and which the functions and the stack sign with.

    From the environment when AWS_SECRET_ACCESS_KEY is set; otherwise the key id `local` and a secret generated once
    and kept in secrets.json (`aws_secret_access_key`), so that no one else on the machine can sign a request.
    """
    env = os.environ if env is None else env
    secret = env.get("AWS_SECRET_ACCESS_KEY") or stored_secrets(data_dir)[AWS_SECRET_KEY]
    return {"AWS_ACCESS_KEY_ID": env.get("AWS_ACCESS_KEY_ID") or "local", "AWS_SECRET_ACCESS_KEY": secret}


def local_parameters(endpoints: Endpoints, data_dir: Path, env: Mapping[str, str] | None = None,
                     overrides: Mapping[str, str] | None = None,
                     ws_management_url: str | None = None) -> dict[str, str]:
    """Parameter values for template.yaml; `overrides` (--param NAME=VALUE) win.

    `ws_management_url` is the local WebSocket API's @connections endpoint (WebSocketManagementUrl);
    values for parameters a template does not declare are ignored by the reader.
    """
    env = os.environ if env is None else env
    found = secret_values(data_dir, env)
    values = {
        "DatabaseUrl": endpoints.database_url,
        "RedisUrl": endpoints.redis_url,
        "S3EndpointUrl": endpoints.s3_endpoint_url,
        "JwtSecret": found["JWT_SECRET"],
        "SuperApiKey": found["SUPER_API_KEY"],
        "EncryptionKey": found["ENCRYPTION_KEY"],
        "LogLevel": env.get("LOG_LEVEL", "INFO").upper(),
        # Hosts providers may use though private or loopback (eneo.core.outbound); the managed model needs none.
        "OutboundAllowedHosts": env.get("OUTBOUND_ALLOWED_HOSTS", ""),
        # Failed ingest/embed messages come back after this; AWS waits 900 s (template default).
        "QueueVisibilityTimeoutSeconds": env.get("ENEO_QUEUE_VISIBILITY_SECONDS") or str(LOCAL_VISIBILITY_SECONDS),
    }
    if ws_management_url is not None:
        values["WebSocketManagementUrl"] = ws_management_url
    return values | dict(overrides or {})


def admin_password(data_dir: Path, env: Mapping[str, str] | None = None) -> tuple[str, bool]:
    """The first admin's password and whether it was generated here (and so sits in a file).

    ENEO_ADMIN_PASSWORD wins; otherwise a password is generated once and kept in
    `<data_dir>/initial-admin-password` (0600) until the installation is deleted.
    """
    env = os.environ if env is None else env
    if env.get("ENEO_ADMIN_PASSWORD"):
        return env["ENEO_ADMIN_PASSWORD"], False
    path = data_dir / PASSWORD_FILE
    if path.exists():
        return path.read_text().strip(), True
    password = secrets.token_urlsafe(18)
    data_dir.mkdir(parents=True, exist_ok=True)
    write_private(path, password)  # no newline: `curl --data-urlencode password@file` sends it all
    return password, True
