"""Secrets and parameter values the local stack supplies, and the login instructions it prints."""

import stat
from pathlib import Path

from eneo_local.bootstrap import AdminLogin, login_instructions
from eneo_local.parameters import admin_password, local_parameters, make_private, secret_values, stack_credentials
from eneo_local.services import Endpoints

ENDPOINTS = Endpoints("postgresql+psycopg://app@/eneo", "postgresql+psycopg://owner@/eneo", "unix:///r.sock",
                      "http://127.0.0.1:5000")


def private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == 0o600


def test_secrets_are_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = secret_values(tmp_path, env={})
    assert all(len(first[k]) >= 32 for k in ("JWT_SECRET", "SUPER_API_KEY", "ENCRYPTION_KEY"))
    assert len(set(first.values())) == 3, "each secret is its own"
    assert private(tmp_path / "secrets.json")
    assert secret_values(tmp_path, env={}) == first


def test_environment_wins(tmp_path: Path) -> None:
    given = {"JWT_SECRET": "j" * 32, "SUPER_API_KEY": "k" * 32, "ENCRYPTION_KEY": "e" * 32}
    assert secret_values(tmp_path, env=given) == given
    assert not (tmp_path / "secrets.json").exists(), "nothing generated when nothing is needed"


def test_template_parameters(tmp_path: Path) -> None:
    params = local_parameters(ENDPOINTS, tmp_path, env={"LOG_LEVEL": "debug"}, overrides={"Extra": "1"})
    assert params["DatabaseUrl"] == ENDPOINTS.database_url, "the application role, not the owner"
    assert (params["RedisUrl"], params["S3EndpointUrl"]) == (ENDPOINTS.redis_url, ENDPOINTS.s3_endpoint_url)
    assert (params["LogLevel"], params["Extra"]) == ("DEBUG", "1")
    assert params["JwtSecret"] == secret_values(tmp_path, env={})["JWT_SECRET"]
    assert params["QueueVisibilityTimeoutSeconds"] == "5", "failed queue messages retried within seconds"
    quick = local_parameters(ENDPOINTS, tmp_path, env={"ENEO_QUEUE_VISIBILITY_SECONDS": "2"})
    assert quick["QueueVisibilityTimeoutSeconds"] == "2"


def test_sqs_is_where_s3_is_unless_configured() -> None:
    assert ENDPOINTS.as_env()["AWS_ENDPOINT_URL_SQS"] == "http://127.0.0.1:5000"
    elsewhere = Endpoints(*list(vars(ENDPOINTS).values())[:4], sqs_endpoint_url="http://127.0.0.1:9324")
    assert elsewhere.as_env()["AWS_ENDPOINT_URL_SQS"] == "http://127.0.0.1:9324"


def test_admin_password(tmp_path: Path) -> None:
    assert admin_password(tmp_path, env={"ENEO_ADMIN_PASSWORD": "chosen"}) == ("chosen", False)
    generated, from_file = admin_password(tmp_path, env={})
    assert from_file and len(generated) >= 20
    path = tmp_path / "initial-admin-password"
    assert private(path) and path.read_text() == generated, "no newline: curl sends the file as it is"
    assert admin_password(tmp_path, env={}) == (generated, True)


def test_login_instructions() -> None:
    url = "http://127.0.0.1:8000"
    password_file = Path("/d/initial-admin-password")
    first = login_instructions(url, AdminLogin("Default", "admin@example.org", "pw-123", password_file, True))
    assert "admin@example.org" in first and "pw-123" in first
    assert f"curl -s -X POST {url}/api/v1/users/login/token/" in first
    assert f'curl -s -H "Authorization: Bearer $TOKEN" {url}/api/v1/spaces/' in first
    later = login_instructions(url, AdminLogin("Default", "admin@example.org", "pw-123", password_file, False))
    assert "pw-123" not in later and "/d/initial-admin-password" in later
    chosen = login_instructions(url, AdminLogin("Default", "a@b.se", "secret-choice", None, True))
    assert "secret-choice" not in chosen and "ENEO_ADMIN_PASSWORD" in chosen
    missing = login_instructions(url, AdminLogin("Default", "a@b.se", "x", None, None, note="not available"))
    assert "WARNING: not available" in missing


def test_the_stacks_aws_secret_is_generated_once_unless_given(tmp_path: Path) -> None:
    first = stack_credentials(tmp_path, env={})
    assert first["AWS_ACCESS_KEY_ID"] == "local" and len(first["AWS_SECRET_ACCESS_KEY"]) >= 32
    assert stack_credentials(tmp_path, env={}) == first, "kept in secrets.json"
    assert private(tmp_path / "secrets.json")
    given = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "from-the-shell"}
    assert stack_credentials(tmp_path, env=given) == given


def test_an_old_data_folder_is_made_private(tmp_path: Path) -> None:
    """What earlier versions left: 0755 folders, 0644 Redis files and logs."""
    data = tmp_path / "data"
    (data / "logs").mkdir(parents=True)
    for name in ("appendonly.aof", "redis.rdb", "moto.log", "logs/local-model.log"):
        (data / name).write_text("answer text")
        (data / name).chmod(0o644)
    (data / "run.sh").write_text("#!/bin/sh")
    (data / "run.sh").chmod(0o755)
    for folder in (data, data / "logs"):
        folder.chmod(0o755)
    make_private(data)
    modes = {str(p.relative_to(tmp_path)): stat.S_IMODE(p.stat().st_mode) for p in [data, *data.rglob("*")]}
    assert modes == {"data": 0o700, "data/logs": 0o700, "data/appendonly.aof": 0o600, "data/redis.rdb": 0o600,
                     "data/moto.log": 0o600, "data/logs/local-model.log": 0o600, "data/run.sh": 0o700}
