"""Tenant roles, named permissions and user groups (issue 15, part 1), through the functions' HTTP apps.

The route table: every route of every function has a decision in eneo.permissions.policy.ROUTES, and
each route answers the built-in admin, the built-in user and a custom role with few permissions as that
decision says (403 `permission_required` or not). The route list comes from the apps themselves, so a
route added without a decision fails here.
"""

import uuid
from typing import Any

import httpx
import pytest

from eneo.core.errors import Forbidden
from eneo.permissions.policy import (
    BUILTIN_ADMIN_ID,
    BUILTIN_ROLES,
    BUILTIN_USER_ID,
    ROUTES,
    Access,
    Permission,
    check_route,
)
from eneo.users.models import UserRole
from tests.fakes.llm_server import FakeLLMServer
from tests.integration.conftest import FunctionApps, Member, Org
from tests.integration.test_audit import entries
from tests.project_template import http_function_folders

READER = [Permission.use_assistants]  # the custom role of the table: asks questions, nothing else


def every_route(function_apps: FunctionApps) -> set[str]:
    """"METHOD path" of every route the functions serve: their OpenAPI paths, plus the health and
    OpenAPI routes every app gets from eneo.core.http.create_app."""
    routes = set()
    for logical_id, folder in http_function_folders().items():
        routes |= {f"GET /api/v1/health/{folder}", f"GET /api/v1/docs/{folder}/openapi.json"}
        for path, operations in function_apps[logical_id].openapi()["paths"].items():
            routes |= {f"{method.upper()} {path}" for method in operations}
    return routes


def test_every_route_has_a_decision_and_every_decision_a_route(function_apps: FunctionApps) -> None:
    served = every_route(function_apps)
    assert sorted(served - ROUTES.keys()) == [], "routes without a permission decision"
    assert sorted(ROUTES.keys() - served) == [], "decisions for routes that no longer exist"


def test_a_route_without_a_decision_is_refused() -> None:
    class Caller:
        permissions = frozenset(Permission)

    with pytest.raises(Forbidden) as refused:
        check_route(Caller(), "GET", "/api/v1/not-decided/")
    assert refused.value.code == "route_not_decided"


async def ok(r: httpx.Response, status: int) -> Any:
    assert r.status_code == status, r.text
    return r.json() if r.content else None


async def with_custom_role(client: httpx.AsyncClient, admin: Member, member: Member, name: str,
                           permissions: list[Permission]) -> dict[str, Any]:
    role = await ok(await client.post("/api/v1/roles/", headers=admin.headers,
                                      json={"name": name, "permissions": permissions}), 201)
    await ok(await client.patch(f"/api/v1/users/{member.id}/", headers=admin.headers,
                                json={"role_id": role["id"]}), 200)
    return role


def _call(method: str, path: str) -> tuple[str, dict[str, Any] | None]:
    """The route with made-up ids and an empty body: enough to pass or fail the permission check, which
    runs before the route looks anything up or validates the body."""
    filled = path
    while "{" in filled:
        start, end = filled.index("{"), filled.index("}")
        name = filled[start + 1:end]
        filled = filled[:start] + ("1" if name in ("version", "chunk_index") else str(uuid.uuid4())) + filled[end + 1:]
    return filled, ({} if method in ("POST", "PATCH", "PUT") else None)


async def test_every_route_answers_each_role_as_the_policy_decides(client: httpx.AsyncClient, make_user: Any
                                                                  ) -> None:
    admin = await make_user()
    org = Org(admin.tenant_id, "")
    user = await make_user(org, UserRole.user)
    reader = await make_user(org, UserRole.user)
    await with_custom_role(client, admin, reader, "Reader", READER)
    roles = {"admin": (admin, BUILTIN_ROLES[UserRole.admin]), "user": (user, BUILTIN_ROLES[UserRole.user]),
             "reader": (reader, frozenset(READER))}

    for name, (member, granted) in roles.items():
        me = await ok(await client.get("/api/v1/users/me/", headers=member.headers), 200)
        assert set(me["permissions"]) == set(granted), name

    checked = 0
    for route, decision in sorted(ROUTES.items()):
        if decision in (Access.public, Access.sysadmin):
            continue
        method, path = route.split(" ", 1)
        url, body = _call(method, path)
        for name, (member, granted) in roles.items():
            r = await client.request(method, url, json=body, headers=member.headers)
            refused = r.status_code == 403 and r.json().get("code") == "permission_required"
            expected = isinstance(decision, Permission) and decision not in granted
            assert refused == expected, f"{name}: {route} answered {r.status_code} {r.text[:200]}"
            if refused:
                assert r.json()["details"] == [{"permission": decision}]
            checked += 1
    assert checked > 300


async def test_custom_roles_change_at_once_and_are_audited(client: httpx.AsyncClient, make_user: Any) -> None:
    admin = await make_user()
    staff = await make_user(Org(admin.tenant_id, ""), UserRole.user)
    listed = await ok(await client.get("/api/v1/roles/", headers=admin.headers), 200)
    assert [(r["id"], r["builtin"]) for r in listed["items"]] == [(str(BUILTIN_ADMIN_ID), True),
                                                                   (str(BUILTIN_USER_ID), True)]
    role = await with_custom_role(client, admin, staff, "Statistik", [Permission.see_insights])
    assert (await client.get("/api/v1/token-usage/", headers=staff.headers)).status_code == 200
    r = await client.get("/api/v1/audit/logs/", headers=staff.headers)
    assert (r.status_code, r.json()["code"]) == (403, "permission_required")
    assert "administer_audit" in r.json()["message"]

    # A changed role applies at the holder's next request, without signing in again.
    await ok(await client.patch(f"/api/v1/roles/{role['id']}/", headers=admin.headers,
                                json={"permissions": ["administer_audit"]}), 200)
    assert (await client.get("/api/v1/audit/logs/", headers=staff.headers)).status_code == 200
    assert (await client.get("/api/v1/token-usage/", headers=staff.headers)).status_code == 403
    shown = await ok(await client.get(f"/api/v1/users/{staff.id}/", headers=admin.headers), 200)
    assert (shown["role"], shown["role_id"]) == ("user", role["id"])

    # Precise refusals: a role in use, a built-in role, a duplicate name, an unknown permission or role.
    r = await client.delete(f"/api/v1/roles/{role['id']}/", headers=admin.headers)
    assert (r.status_code, r.json()["code"]) == (409, "role_in_use")
    r = await client.patch(f"/api/v1/roles/{BUILTIN_USER_ID}/", headers=admin.headers, json={"name": "x"})
    assert (r.status_code, r.json()["code"]) == (409, "builtin_role")
    r = await client.post("/api/v1/roles/", headers=admin.headers, json={"name": "Statistik"})
    assert (r.status_code, r.json()["code"]) == (409, "role_name_taken")
    r = await client.post("/api/v1/roles/", headers=admin.headers, json={"name": "X", "permissions": ["fly"]})
    assert (r.status_code, r.json()["details"][0]["field"]) == (422, "permissions[0]")
    r = await client.patch(f"/api/v1/users/{staff.id}/", headers=admin.headers, json={"role_id": str(uuid.uuid4())})
    assert (r.status_code, r.json()["details"][0]["field"]) == (422, "role_id")

    # Back to the built-in user role by its fixed id; then the custom role can go.
    await ok(await client.patch(f"/api/v1/users/{staff.id}/", headers=admin.headers,
                                json={"role_id": str(BUILTIN_USER_ID)}), 200)
    assert (await client.get("/api/v1/audit/logs/", headers=staff.headers)).status_code == 403
    await ok(await client.delete(f"/api/v1/roles/{role['id']}/", headers=admin.headers), 204)

    actions = [(e["action"], e["target_id"]) for e in await entries(client, admin, action="role.")]
    assert actions == [("role.deleted", role["id"]), ("role.updated", role["id"]), ("role.created", role["id"])]
    changed = [e["details"] for e in await entries(client, admin, action="user.updated")]
    assert {"changed": ["role_id"], "role_id": str(BUILTIN_USER_ID)} in changed
    assert {"changed": ["role_id"], "role_id": role["id"]} in changed


async def test_the_last_admin_cannot_take_a_custom_role(client: httpx.AsyncClient, make_user: Any) -> None:
    admin = await make_user()
    role = await ok(await client.post("/api/v1/roles/", headers=admin.headers, json={"name": "Few"}), 201)
    r = await client.patch(f"/api/v1/users/{admin.id}/", headers=admin.headers, json={"role_id": role["id"]})
    assert (r.status_code, r.json()["code"]) == (409, "last_admin")
    assert (await client.get("/api/v1/users/", headers=admin.headers)).status_code == 200


async def test_a_group_gives_its_members_the_higher_space_role(client: httpx.AsyncClient, make_user: Any) -> None:
    admin = await make_user()
    org = Org(admin.tenant_id, "")
    ann, bo = await make_user(org, UserRole.user), await make_user(org, UserRole.user)
    space = await ok(await client.post("/api/v1/spaces/", json={"name": "Socialtjänst"}, headers=admin.headers), 201)
    group = await ok(await client.post("/api/v1/user-groups/", json={"name": "Handläggare"}, headers=admin.headers),
                     201)
    for member in (ann, bo):
        await ok(await client.post(f"/api/v1/user-groups/{group['id']}/members/", headers=admin.headers,
                                   json={"user_id": str(member.id)}), 201)
    await ok(await client.post(f"/api/v1/spaces/{space['id']}/members/", headers=admin.headers,
                               json={"user_id": str(bo.id), "role": "admin"}), 201)
    assert (await client.get(f"/api/v1/spaces/{space['id']}/", headers=ann.headers)).status_code == 404

    detail = await ok(await client.post(f"/api/v1/spaces/{space['id']}/group-members/", headers=admin.headers,
                                        json={"group_id": group["id"], "role": "editor"}), 201)
    assert detail["group_members"] == [{"group_id": group["id"], "name": "Handläggare", "role": "editor"}]
    seen = await ok(await client.get(f"/api/v1/spaces/{space['id']}/", headers=ann.headers), 200)
    assert seen["my_role"] == "editor"  # through the group only
    seen = await ok(await client.get(f"/api/v1/spaces/{space['id']}/", headers=bo.headers), 200)
    assert seen["my_role"] == "admin"  # the higher of direct (admin) and group (editor)
    assert space["id"] in [s["id"] for s in (await ok(await client.get("/api/v1/spaces/", headers=ann.headers),
                                                      200))["items"]]
    # The group's role lets Ann edit content (a collection) but not manage members.
    await ok(await client.post(f"/api/v1/spaces/{space['id']}/knowledge/groups/", headers=ann.headers,
                               json={"name": "Rutiner"}), 201)
    r = await client.post(f"/api/v1/spaces/{space['id']}/members/", headers=ann.headers,
                          json={"user_id": str(ann.id), "role": "admin"})
    assert (r.status_code, r.json()["code"]) == (403, "space_role_required")

    await ok(await client.patch(f"/api/v1/spaces/{space['id']}/group-members/{group['id']}/", headers=admin.headers,
                                json={"role": "viewer"}), 200)
    assert (await ok(await client.get(f"/api/v1/spaces/{space['id']}/", headers=ann.headers), 200))["my_role"] == \
        "viewer"
    await ok(await client.delete(f"/api/v1/user-groups/{group['id']}/members/{ann.id}/", headers=admin.headers), 204)
    assert (await client.get(f"/api/v1/spaces/{space['id']}/", headers=ann.headers)).status_code == 404
    r = await client.post(f"/api/v1/spaces/{space['id']}/group-members/", headers=admin.headers,
                          json={"group_id": group["id"], "role": "viewer"})
    assert (r.status_code, r.json()["code"]) == (409, "already_member")
    await ok(await client.delete(f"/api/v1/spaces/{space['id']}/group-members/{group['id']}/",
                                 headers=admin.headers), 204)

    got = await ok(await client.get(f"/api/v1/user-groups/{group['id']}/", headers=admin.headers), 200)
    assert [m["user_id"] for m in got["members"]] == [str(bo.id)] and got["member_count"] == 1
    await ok(await client.delete(f"/api/v1/user-groups/{group['id']}/", headers=admin.headers), 204)
    actions = {e["action"] for e in await entries(client, admin)}
    assert {"user_group.created", "user_group.member_added", "user_group.member_removed", "user_group.deleted",
            "space.group_added", "space.group_role_changed", "space.group_removed"} <= actions
    r = await client.post("/api/v1/user-groups/", json={"name": "X"}, headers=ann.headers)
    assert (r.status_code, r.json()["code"]) == (403, "permission_required")


async def test_another_tenants_roles_and_groups_are_not_found(client: httpx.AsyncClient, make_user: Any) -> None:
    a_admin, b_admin = await make_user(), await make_user()
    role = await ok(await client.post("/api/v1/roles/", headers=a_admin.headers, json={"name": "A"}), 201)
    group = await ok(await client.post("/api/v1/user-groups/", headers=a_admin.headers, json={"name": "A"}), 201)
    b_space = await ok(await client.post("/api/v1/spaces/", json={"name": "B"}, headers=b_admin.headers), 201)
    for method, path, body in [
        ("GET", f"/api/v1/roles/{role['id']}/", None), ("PATCH", f"/api/v1/roles/{role['id']}/", {"name": "x"}),
        ("DELETE", f"/api/v1/roles/{role['id']}/", None), ("GET", f"/api/v1/user-groups/{group['id']}/", None),
        ("PATCH", f"/api/v1/user-groups/{group['id']}/", {"name": "x"}),
        ("POST", f"/api/v1/user-groups/{group['id']}/members/", {"user_id": str(b_admin.id)}),
        ("DELETE", f"/api/v1/user-groups/{group['id']}/", None),
        ("POST", f"/api/v1/spaces/{b_space['id']}/group-members/", {"group_id": group["id"], "role": "viewer"}),
    ]:
        r = await client.request(method, path, json=body, headers=b_admin.headers)
        assert (r.status_code, r.json()["code"]) == (404, "not_found"), (method, path, r.text)
    r = await client.patch(f"/api/v1/users/{b_admin.id}/", json={"role_id": role["id"]}, headers=b_admin.headers)
    assert (r.status_code, r.json()["details"][0]["field"]) == (422, "role_id")
    for path in ("/api/v1/roles/", "/api/v1/user-groups/"):
        assert role["id"] not in (await client.get(path, headers=b_admin.headers)).text
        assert group["id"] not in (await client.get(path, headers=b_admin.headers)).text


async def test_a_model_limited_to_a_group_refuses_others_before_the_provider(
        client: httpx.AsyncClient, chat: Any, fake: FakeLLMServer) -> None:
    admin, user = chat.admin, chat.viewer
    group = await ok(await client.post("/api/v1/user-groups/", json={"name": "Jurister"}, headers=admin.headers), 201)
    model = await ok(await client.patch(f"/api/v1/completion-models/{chat.model}/", headers=admin.headers,
                                        json={"allowed_group_ids": [group["id"]]}), 200)
    assert model["allowed_group_ids"] == [group["id"]]
    ask = f"/api/v1/assistants/{chat.assistant}/sessions/"

    for who in (user, admin):  # no role overrides the limit
        r = await client.post(ask, json={"question": "Får jag fråga?"}, headers=who.headers)
        assert (r.status_code, r.json()["code"]) == (403, "model_not_allowed"), r.text
        assert "gpt-fake" in r.json()["message"]
    assert fake.requests == []

    await ok(await client.post(f"/api/v1/user-groups/{group['id']}/members/", headers=admin.headers,
                               json={"user_id": str(user.id)}), 201)
    asked = await ok(await client.post(ask, json={"question": "Nu då?"}, headers=user.headers), 201)
    assert asked["question"]["status"] == "completed"
    assert len(fake.requests) == 1

    r = await client.patch(f"/api/v1/completion-models/{chat.model}/", headers=admin.headers,
                           json={"allowed_group_ids": [str(uuid.uuid4())]})
    assert (r.status_code, r.json()["details"][0]["field"]) == (422, "allowed_group_ids")
    opened = await ok(await client.patch(f"/api/v1/completion-models/{chat.model}/", headers=admin.headers,
                                         json={"allowed_group_ids": []}), 200)
    assert opened["allowed_group_ids"] == []
    await ok(await client.post(ask, json={"question": "Och admin?"}, headers=admin.headers), 201)


async def test_an_embedding_model_limited_to_a_group_refuses_others(client: httpx.AsyncClient, make_user: Any
                                                                    ) -> None:
    admin = await make_user()
    models = await ok(await client.get("/api/v1/embedding-models/", headers=admin.headers), 200)
    local = next(m for m in models["items"] if m["managed"])
    group = await ok(await client.post("/api/v1/user-groups/", json={"name": "Få"}, headers=admin.headers), 201)
    await ok(await client.patch(f"/api/v1/embedding-models/{local['id']}/", headers=admin.headers,
                                json={"allowed_group_ids": [group["id"]]}), 200)
    space = await ok(await client.post("/api/v1/spaces/", json={"name": "S"}, headers=admin.headers), 201)
    r = await client.post(f"/api/v1/spaces/{space['id']}/knowledge/groups/", headers=admin.headers,
                          json={"name": "C", "embedding_model_id": local["id"]})
    assert (r.status_code, r.json()["code"]) == (403, "model_not_allowed"), r.text
