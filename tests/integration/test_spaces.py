"""Spaces and members through the spaces function: roles decide, outsiders see nothing."""

import json

import httpx

from eneo.users.models import UserRole
from tests.integration.conftest import Org


async def shared_space(client: httpx.AsyncClient, owner, name: str = "Socialtjänst") -> str:
    r = await client.post("/api/v1/spaces/", json={"name": name, "description": "d"}, headers=owner.headers)
    assert r.status_code == 201 and r.json()["my_role"] == "admin", r.text
    return r.json()["id"]


async def add(client: httpx.AsyncClient, admin, space_id: str, user, role: str) -> httpx.Response:
    return await client.post(f"/api/v1/spaces/{space_id}/members/", json={"user_id": str(user.id), "role": role},
                             headers=admin.headers)


async def test_every_user_has_a_personal_space(client: httpx.AsyncClient, make_user) -> None:
    user = await make_user()
    items = (await client.get("/api/v1/spaces/", headers=user.headers)).json()["items"]
    assert [(s["personal"], s["my_role"]) for s in items] == [(True, "admin")]
    personal = items[0]["id"]
    r = await client.delete(f"/api/v1/spaces/{personal}/", headers=user.headers)
    assert (r.status_code, r.json()["code"]) == (409, "personal_space")
    other = await make_user(tenant=Org(user.tenant_id, ""), role=UserRole.user)
    r = await add(client, user, personal, other, "viewer")
    assert (r.status_code, r.json()["code"]) == (400, "personal_space")


async def test_roles_decide_who_reads_edits_and_manages(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user()
    org = Org(admin.tenant_id, "")
    viewer, editor = await make_user(org, UserRole.user), await make_user(org, UserRole.user)
    space = await shared_space(client, admin)
    assert (await add(client, admin, space, viewer, "viewer")).status_code == 201
    r = await add(client, admin, space, editor, "editor")
    assert sorted(m["role"] for m in r.json()["members"]) == ["admin", "editor", "viewer"]

    r = await client.get(f"/api/v1/spaces/{space}/", headers=viewer.headers)
    assert r.status_code == 200 and r.json()["my_role"] == "viewer"
    for who in (viewer, editor):
        r = await client.patch(f"/api/v1/spaces/{space}/", json={"name": "renamed"}, headers=who.headers)
        assert (r.status_code, r.json()["code"]) == (403, "space_role_required")
        r = await client.delete(f"/api/v1/spaces/{space}/", headers=who.headers)
        assert r.status_code == 403
    r = await add(client, editor, space, viewer, "admin")
    assert r.status_code == 403

    r = await client.patch(f"/api/v1/spaces/{space}/members/{viewer.id}/", json={"role": "editor"},
                           headers=admin.headers)
    assert {m["user_id"]: m["role"] for m in r.json()["members"]}[str(viewer.id)] == "editor"
    r = await client.patch(f"/api/v1/spaces/{space}/", json={"name": "Renamed"}, headers=admin.headers)
    assert r.json()["name"] == "Renamed" and r.json()["description"] == "d"


async def test_non_members_get_404_not_403(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user()
    outsider = await make_user(Org(admin.tenant_id, ""), UserRole.admin)  # even a tenant admin
    space = await shared_space(client, admin)
    for method, path in (("GET", f"/api/v1/spaces/{space}/"), ("PATCH", f"/api/v1/spaces/{space}/"),
                         ("DELETE", f"/api/v1/spaces/{space}/"), ("POST", f"/api/v1/spaces/{space}/members/")):
        body = {"user_id": str(outsider.id), "role": "admin"} if method == "POST" else {}
        r = await client.request(method, path, json=body, headers=outsider.headers)
        assert (r.status_code, r.json()["code"]) == (404, "not_found"), (method, path)
    listed = (await client.get("/api/v1/spaces/", headers=outsider.headers)).json()["items"]
    assert space not in [s["id"] for s in listed]


async def test_a_space_keeps_at_least_one_admin(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user()
    member = await make_user(Org(admin.tenant_id, ""), UserRole.user)
    space = await shared_space(client, admin)
    await add(client, admin, space, member, "viewer")
    r = await client.patch(f"/api/v1/spaces/{space}/members/{admin.id}/", json={"role": "editor"},
                           headers=admin.headers)
    assert (r.status_code, r.json()["code"]) == (409, "last_space_admin")
    r = await client.delete(f"/api/v1/spaces/{space}/members/{admin.id}/", headers=admin.headers)
    assert r.status_code == 409
    # A member may leave on their own.
    assert (await client.delete(f"/api/v1/spaces/{space}/members/{member.id}/",
                                headers=member.headers)).status_code == 204
    assert (await client.get(f"/api/v1/spaces/{space}/", headers=member.headers)).status_code == 404


async def test_member_must_exist_in_the_tenant_and_not_twice(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user()
    stranger = await make_user()  # another tenant
    colleague = await make_user(Org(admin.tenant_id, ""), UserRole.user)
    space = await shared_space(client, admin)
    r = await add(client, admin, space, stranger, "viewer")
    assert (r.status_code, r.json()["message"]) == (404, "User not found")
    assert (await add(client, admin, space, colleague, "viewer")).status_code == 201
    r = await add(client, admin, space, colleague, "editor")
    assert (r.status_code, r.json()["code"]) == (409, "already_member")
    r = await client.post(f"/api/v1/spaces/{space}/members/", json={"user_id": "nope", "role": "boss"},
                          headers=admin.headers)
    assert r.status_code == 422
    assert {d["field"] for d in r.json()["details"]} == {"user_id", "role"}


async def test_a_space_admin_adds_a_colleague_by_e_mail_and_learns_nothing_of_other_tenants(
        client: httpx.AsyncClient, make_user) -> None:
    tenant_admin = await make_user()
    space_admin = await make_user(Org(tenant_admin.tenant_id, ""), UserRole.user)  # not a tenant admin
    colleague = await make_user(Org(tenant_admin.tenant_id, ""), UserRole.user)
    stranger = await make_user()  # another tenant
    space = await shared_space(client, space_admin)
    url = f"/api/v1/spaces/{space}/members/"
    # they cannot list the tenant's users, so the address is how they name a colleague (any letter case)
    assert (await client.get("/api/v1/users/", headers=space_admin.headers)).status_code == 403
    r = await client.post(url, json={"email": f"  {colleague.email.upper()} ", "role": "editor"},
                          headers=space_admin.headers)
    assert r.status_code == 201, r.text
    assert {(m["email"], m["role"]) for m in r.json()["members"]} >= {(colleague.email, "editor")}
    # another tenant's address and an unknown one answer exactly the same, and nobody is added
    other = await client.post(url, json={"email": stranger.email, "role": "viewer"}, headers=space_admin.headers)
    unknown = await client.post(url, json={"email": "nobody-here@example.org", "role": "viewer"},
                                headers=space_admin.headers)
    assert other.status_code == unknown.status_code == 404
    assert {k: v for k, v in other.json().items() if k != "request_id"} == \
        {k: v for k, v in unknown.json().items() if k != "request_id"}
    assert (await client.get(f"/api/v1/spaces/{space}/", headers=stranger.headers)).status_code == 404
    r = await client.post(url, json={"email": colleague.email, "role": "viewer"}, headers=space_admin.headers)
    assert (r.status_code, r.json()["code"]) == (409, "already_member")
    # exactly one of user_id and email, and an address that is one
    for body in ({"role": "viewer"}, {"email": colleague.email, "user_id": str(colleague.id), "role": "viewer"}):
        r = await client.post(url, json=body, headers=space_admin.headers)
        assert (r.status_code, r.json()["code"]) == (422, "validation_error"), body
    r = await client.post(url, json={"email": "not-an-address", "role": "viewer"}, headers=space_admin.headers)
    assert r.status_code == 422 and [d["field"] for d in r.json()["details"]] == ["email"]
    members = (await client.get(f"/api/v1/spaces/{space}/", headers=space_admin.headers)).json()["members"]
    assert sorted(m["email"] for m in members) == sorted([space_admin.email, colleague.email])


async def test_deleting_a_space_removes_it_for_everyone(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user()
    member = await make_user(Org(admin.tenant_id, ""), UserRole.user)
    space = await shared_space(client, admin)
    await add(client, admin, space, member, "editor")
    assert (await client.delete(f"/api/v1/spaces/{space}/", headers=admin.headers)).status_code == 204
    for who in (admin, member):
        assert (await client.get(f"/api/v1/spaces/{space}/", headers=who.headers)).status_code == 404


async def test_space_list_pages(client: httpx.AsyncClient, make_user) -> None:
    user = await make_user()
    made = {await shared_space(client, user, f"s{i}") for i in range(5)}
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/spaces/", params=params, headers=user.headers)).json()
        seen += [s["id"] for s in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert len(seen) == 6 == len(set(seen)) and made <= set(seen)
    r = await client.get("/api/v1/spaces/", params={"limit": 0}, headers=user.headers)
    assert (r.status_code, r.json()["details"][0]["field"]) == (422, "limit")
    r = await client.get("/api/v1/spaces/", params={"cursor": "bogus"}, headers=user.headers)
    assert (r.status_code, r.json()["code"]) == (400, "invalid_cursor")


async def test_text_postgres_cannot_store_is_a_422_naming_the_field(client: httpx.AsyncClient, make_user) -> None:
    """Found by fuzzing: a NUL or an unpaired surrogate in JSON used to reach Postgres and answer 500."""
    user = await make_user()
    for body, field in (({"name": "a\u0000b"}, "name"), ({"name": "ok", "description": "\ud800"}, "description")):
        raw = json.dumps(body).encode()  # ASCII-escaped, as a browser may send it
        r = await client.post("/api/v1/spaces/", content=raw,
                              headers={**user.headers, "Content-Type": "application/json"})
        assert r.status_code == 422, r.text
        assert [d["field"] for d in r.json()["details"]] == [field]
    r = await client.post("/api/v1/users/login/token/", data={"username": "a\u0000@example.org", "password": "x"})
    assert (r.status_code, r.json()["details"][0]["field"]) == (422, "username")
