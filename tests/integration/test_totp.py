"""The second factor (TOTP) through the auth function: enrolment, sign-in with a code, wrong and replayed codes,
recovery codes, turning it off, and an admin's reset. Codes are computed with pyotp from the secret the
enrolment showed, as an authenticator app would."""

import time
import uuid
from typing import Any

import httpx
import pyotp
import pytest
from sqlalchemy import select

from eneo.core.db import UnitOfWork
from eneo.core.settings import get_settings
from eneo.users.models import User, UserRole
from tests.integration.conftest import PASSWORD, Member, Org

LOGIN = "/api/v1/users/login/token/"
TOTP = "/api/v1/users/me/totp/"


def code_at(secret: str, offset_steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * offset_steps)


async def login(client: httpx.AsyncClient, who: Member, password: str = PASSWORD, otp: str | None = None,
                ) -> httpx.Response:
    data = {"username": who.email, "password": password} | ({"otp": otp} if otp is not None else {})
    return await client.post(LOGIN, data=data)


async def enrol(client: httpx.AsyncClient, who: Member) -> tuple[str, list[str], str]:
    """Enrolled with the current step's code: the secret, the recovery codes and the code confirmed."""
    started = await client.post(TOTP, json={"password": PASSWORD}, headers=who.headers)
    assert started.status_code == 201, started.text
    secret = started.json()["secret"]
    confirmed = await client.post(f"{TOTP}confirm/", json={"code": (first := code_at(secret))}, headers=who.headers)
    assert confirmed.status_code == 200, confirmed.text
    return secret, confirmed.json()["recovery_codes"], first


def assert_error(r: httpx.Response, status: int, code: str) -> None:
    assert (r.status_code, r.json()["code"]) == (status, code), r.text


@pytest.fixture
async def member(make_user: Any) -> Member:
    return await make_user(role=UserRole.user)


async def test_enrolment_shows_the_secret_once_and_counts_from_the_first_code(client: httpx.AsyncClient,
                                                                              member: Member) -> None:
    assert_error(await client.post(TOTP, json={"password": "not the password"}, headers=member.headers),
                 401, "invalid_credentials")
    started = await client.post(TOTP, json={"password": PASSWORD}, headers=member.headers)
    assert started.status_code == 201, started.text
    secret, uri = started.json()["secret"], started.json()["otpauth_uri"]
    parsed = pyotp.parse_uri(uri)
    assert parsed.secret == secret and parsed.issuer == "Eneo" and parsed.name == member.email
    assert (await client.get("/api/v1/users/me/", headers=member.headers)).json()["totp_enabled"] is False
    assert (await login(client, member)).status_code == 200  # not confirmed yet: nothing asked

    assert_error(await client.post(f"{TOTP}confirm/", json={"code": "000000"}, headers=member.headers),
                 400, "invalid_otp")
    confirmed = await client.post(f"{TOTP}confirm/", json={"code": code_at(secret)}, headers=member.headers)
    assert confirmed.status_code == 200, confirmed.text
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == len(set(codes)) == 10 and all(len(c) == 14 and c.count("-") == 2 for c in codes)
    me = (await client.get("/api/v1/users/me/", headers=member.headers)).json()
    assert me["totp_enabled"] is True
    assert_error(await client.post(TOTP, json={"password": PASSWORD}, headers=member.headers), 409, "totp_enabled")

    async with UnitOfWork(member.tenant_id) as uow:  # stored encrypted and hashed, never as shown
        user = (await uow.session.scalars(select(User).where(User.id == member.id))).one()
        assert user.totp_secret_encrypted and secret.encode() not in user.totp_secret_encrypted
        assert len(user.totp_recovery_hashes) == 10
        assert not any(c.replace("-", "") in str(user.totp_recovery_hashes) for c in codes)


async def test_sign_in_asks_for_the_code_and_refuses_wrong_and_replayed_ones(client: httpx.AsyncClient,
                                                                             member: Member) -> None:
    secret, _, first = await enrol(client, member)
    assert_error(await login(client, member), 401, "otp_required")
    r = await login(client, member, password="wrong password!", otp=code_at(secret, 1))
    assert_error(r, 401, "invalid_credentials")  # a wrong password never says a code is wanted
    assert_error(await login(client, member, otp="123456"), 401, "invalid_otp")
    assert_error(await login(client, member, otp=code_at(secret, 5)), 401, "invalid_otp")  # too far ahead

    assert_error(await login(client, member, otp=first), 401, "invalid_otp")  # used to confirm
    signed_in = await login(client, member, otp=code_at(secret, 1))  # the next step: a clock a little ahead
    assert signed_in.status_code == 200, signed_in.text
    token = signed_in.json()["access_token"]
    assert (await client.get("/api/v1/users/me/", headers={"Authorization": f"Bearer {token}"})).status_code == 200
    assert_error(await login(client, member, otp=code_at(secret, 1)), 401, "invalid_otp")  # replayed
    assert_error(await login(client, member, otp=code_at(secret)), 401, "invalid_otp")  # an earlier step


async def test_asking_for_the_code_is_no_failure_but_wrong_codes_are(client: httpx.AsyncClient,
                                                                     member: Member) -> None:
    await enrol(client, member)
    limit = get_settings().login_max_attempts_per_account
    for _ in range(limit + 2):  # the password was right each time: no throttling
        assert_error(await login(client, member), 401, "otp_required")
    for _ in range(limit):
        assert_error(await login(client, member, otp="123456"), 401, "invalid_otp")
    r = await login(client, member, otp="123456")
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0


async def test_recovery_codes_sign_in_once_each_and_can_be_renewed(client: httpx.AsyncClient,
                                                                   member: Member) -> None:
    secret, codes, _ = await enrol(client, member)
    typed = codes[0].replace("-", "").upper()  # as someone may type it
    assert (await login(client, member, otp=typed)).status_code == 200
    assert_error(await login(client, member, otp=codes[0]), 401, "invalid_otp")  # single use
    assert (await login(client, member, otp=codes[1])).status_code == 200

    renewed = await client.post(f"{TOTP}recovery-codes/", json={"code": code_at(secret, 1)}, headers=member.headers)
    assert renewed.status_code == 200, renewed.text
    fresh = renewed.json()["recovery_codes"]
    assert not set(fresh) & set(codes)
    assert_error(await login(client, member, otp=codes[2]), 401, "invalid_otp")  # the old set is gone
    assert (await login(client, member, otp=fresh[0])).status_code == 200
    r = await client.post(f"{TOTP}recovery-codes/", json={"code": fresh[1]}, headers=member.headers)
    assert_error(r, 400, "invalid_otp")  # new codes take the app, not a recovery code


async def test_turning_it_off_takes_the_password_and_a_code(client: httpx.AsyncClient, member: Member) -> None:
    _, codes, _ = await enrol(client, member)
    r = await client.post(f"{TOTP}disable/", json={"password": "wrong password!", "code": codes[0]},
                          headers=member.headers)
    assert_error(r, 401, "invalid_credentials")
    r = await client.post(f"{TOTP}disable/", json={"password": PASSWORD, "code": "000000"}, headers=member.headers)
    assert_error(r, 400, "invalid_otp")
    r = await client.post(f"{TOTP}disable/", json={"password": PASSWORD, "code": codes[0]}, headers=member.headers)
    assert r.status_code == 204, r.text
    assert (await login(client, member)).status_code == 200
    assert (await client.get("/api/v1/users/me/", headers=member.headers)).json()["totp_enabled"] is False
    assert_error(await client.post(f"{TOTP}disable/", json={"password": PASSWORD, "code": codes[1]},
                                   headers=member.headers), 409, "totp_not_enabled")


async def test_an_admin_resets_a_users_second_factor_in_their_own_organisation_only(
        client: httpx.AsyncClient, member: Member, make_user: Any) -> None:
    await enrol(client, member)
    stranger = await make_user()  # an admin of another organisation
    r = await client.delete(f"/api/v1/users/{member.id}/totp/", headers=stranger.headers)
    assert_error(r, 404, "not_found")
    assert_error(await login(client, member), 401, "otp_required")
    colleague = await make_user(Org(member.tenant_id, ""), UserRole.user)
    r = await client.delete(f"/api/v1/users/{member.id}/totp/", headers=colleague.headers)
    assert r.status_code == 403
    admin = await make_user(Org(member.tenant_id, ""))
    r = await client.delete(f"/api/v1/users/{member.id}/totp/", headers=admin.headers)
    assert r.status_code == 204, r.text
    assert (await login(client, member)).status_code == 200


async def test_an_api_key_cannot_enrol(client: httpx.AsyncClient, member: Member) -> None:
    key = await client.post("/api/v1/api-keys/", json={"name": f"k-{uuid.uuid4().hex[:6]}"}, headers=member.headers)
    assert key.status_code == 201, key.text
    r = await client.post(TOTP, json={"password": PASSWORD}, headers={"X-API-Key": key.json()["key"]})
    assert_error(r, 403, "token_required")
    assert_error(await client.post(f"{TOTP}confirm/", json={"code": "123456"}, headers=member.headers),
                 409, "totp_not_started")
