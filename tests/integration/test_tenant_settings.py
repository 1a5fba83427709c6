"""`/api/v1/settings/`: a tenant's own admins switch personal-data protection on for the organisation and
lengthen the audit log's retention, without the sysadmin; through the functions' HTTP apps and the real
database (its RLS policy and `tenant_update_settings()`)."""

from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from eneo.core.db import UnitOfWork
from eneo.users.models import UserRole
from tests.fakes.llm_server import FakeLLMServer
from tests.integration.conftest import Org
from tests.integration.test_audit import entries
from tests.integration.test_personal_data import (  # noqa: F401 - fixtures
    QUESTION,
    ask,
    assert_nothing_personal,
    chat,
    fake,
    sent_text,
    streamed,
)
from tests.integration.test_sessions import Chat

SETTINGS = "/api/v1/settings/"
SUPER = {"X-API-Key": "test-super-key-0123456789abcdef0123456789"}


async def _json(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def test_a_tenant_admin_turns_masking_on_and_the_provider_sees_no_personal_data(
        client: httpx.AsyncClient, chat: Chat, fake: FakeLLMServer) -> None:  # noqa: F811
    await ask(client, chat, QUESTION)  # not opted in: sent as it is
    assert "811218-9876" in sent_text(fake)
    assert (await _json(await client.get(SETTINGS, headers=chat.viewer.headers), 200))["protect_personal_data"] is False

    refused = await _json(await client.patch(SETTINGS, json={"protect_personal_data": True},
                                             headers=chat.viewer.headers), 403)
    assert (refused["code"], refused["details"]) == ("permission_required", [{"permission": "administer_audit"}])
    body = await _json(await client.patch(SETTINGS, json={"protect_personal_data": True},
                                          headers=chat.admin.headers), 200)
    assert (body["protect_personal_data"], body["audit_retention_days"]) == (True, 365)
    # Everyone in the organisation reads the new setting, and the sysadmin's view of the tenant agrees.
    assert (await _json(await client.get(SETTINGS, headers=chat.viewer.headers), 200))["protect_personal_data"] is True
    tenant = await _json(await client.get(f"/api/v1/sysadmin/tenants/{chat.admin.tenant_id}/", headers=SUPER), 200)
    assert tenant["protect_personal_data"] is True

    await ask(client, chat, QUESTION)
    assert_nothing_personal(fake)
    changed = [e for e in await entries(client, chat.admin, action="settings.updated")]
    assert [(e["outcome"], e["actor_id"], e["details"]) for e in changed] == [
        ("success", str(chat.admin.id), {"changed": ["protect_personal_data"], "protect_personal_data": True})]


async def test_the_audit_retention_only_grows_and_the_refusal_is_recorded(client: httpx.AsyncClient,
                                                                          make_user: Any) -> None:
    admin = await make_user()
    longer = await _json(await client.patch(SETTINGS, json={"audit_retention_days": 730}, headers=admin.headers), 200)
    assert (longer["audit_retention_days"], longer["protect_personal_data"]) == (730, False)

    shorter = await _json(await client.patch(SETTINGS, json={"audit_retention_days": 400}, headers=admin.headers), 403)
    assert shorter["code"] == "audit_retention_shortened"
    assert shorter["details"] == [{"field": "audit_retention_days", "current": 730}]
    assert (await _json(await client.get(SETTINGS, headers=admin.headers), 200))["audit_retention_days"] == 730

    changed = await entries(client, admin, action="settings.updated")
    assert [(e["outcome"], e["details"]) for e in changed] == [
        ("failure", {"changed": ["audit_retention_days"], "audit_retention_days": 400,
                     "code": "audit_retention_shortened"}),
        ("success", {"changed": ["audit_retention_days"], "audit_retention_days": 730})]
    # The sysadmin still may shorten it (the platform's decision, recorded as tenant.updated).
    await _json(await client.patch(f"/api/v1/sysadmin/tenants/{admin.tenant_id}/",
                                   json={"audit_retention_days": 90}, headers=SUPER), 200)
    assert (await _json(await client.get(SETTINGS, headers=admin.headers), 200))["audit_retention_days"] == 90


async def test_bad_bodies_are_refused_by_field_and_change_nothing(client: httpx.AsyncClient, make_user: Any) -> None:
    admin = await make_user()
    for body, field in (({"audit_retention_days": 20}, "audit_retention_days"),
                        ({"audit_retention_days": 4000}, "audit_retention_days"),
                        ({"protect_personal_data": "sometimes"}, "protect_personal_data"),
                        ({"state": "active"}, "state"), ({"name": "Renamed"}, "name")):
        r = await _json(await client.patch(SETTINGS, json=body, headers=admin.headers), 422)
        assert (r["code"], r["details"][0]["field"]) == ("validation_error", field), body
    tenant = await _json(await client.get(f"/api/v1/sysadmin/tenants/{admin.tenant_id}/", headers=SUPER), 200)
    assert (tenant["state"], tenant["audit_retention_days"], tenant["protect_personal_data"]) == ("active", 365, False)
    assert await entries(client, admin, action="settings.updated") == []


async def test_an_admin_changes_only_their_own_tenant(client: httpx.AsyncClient, make_user: Any) -> None:
    a_admin, b_admin = await make_user(), await make_user()
    a_user = await make_user(Org(a_admin.tenant_id, ""), UserRole.user)
    await _json(await client.patch(SETTINGS, json={"protect_personal_data": True, "audit_retention_days": 999},
                                   headers=b_admin.headers), 200)
    for who in (a_admin, a_user):
        mine = await _json(await client.get(SETTINGS, headers=who.headers), 200)
        assert (mine["protect_personal_data"], mine["audit_retention_days"]) == (False, 365)
    assert await entries(client, a_admin, action="settings.updated") == []


async def test_the_database_lets_the_functions_change_only_the_two_settings(make_user: Any) -> None:
    """The functions' role, bound to a tenant: the tenants row itself is not writable (the sysadmin's), and
    `tenant_update_settings()` refuses a shorter audit retention even when the use case is bypassed."""
    admin = await make_user()
    with pytest.raises(DBAPIError, match="violates row-level security policy"):
        async with UnitOfWork(admin.tenant_id) as uow:
            await uow.session.execute(text("UPDATE tenants SET state = 'suspended' WHERE id = :id"),
                                      {"id": admin.tenant_id})
    with pytest.raises(DBAPIError, match="only the sysadmin shortens the audit retention"):
        async with UnitOfWork(admin.tenant_id) as uow:
            await uow.session.execute(text("SELECT tenant_update_settings(NULL, 30)"))
    async with UnitOfWork(admin.tenant_id) as uow:
        await uow.session.execute(text("SELECT tenant_update_settings(true, NULL)"))
        await uow.commit()
    async with UnitOfWork(sysadmin=True) as uow:
        row = (await uow.session.execute(text(
            "SELECT state, protect_personal_data, audit_retention_days FROM tenants WHERE id = :id"),
            {"id": admin.tenant_id})).one()
    assert tuple(row) == ("active", True, 365)
