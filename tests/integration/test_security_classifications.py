"""Security classifications (issue 15, part 6): what an admin and a user notice.

A tenant admin defines ordered levels; spaces and models carry one. An assistant is never bound to a model
classified below its space, a question to one whose model no longer qualifies is refused before the
provider hears of it, and every change of a space's level, a model's level or the order answers which
assistants it stopped.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from eneo.users.models import UserRole
from tests.fakes.llm_server import FakeLLMServer
from tests.integration.conftest import Member, Org
from tests.integration.test_sessions import Chat, make_chat

LEVELS = "/api/v1/security-classifications/"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(token_count=4) as server:
        yield server


@pytest.fixture(autouse=True)
def fresh_fake(fake: FakeLLMServer) -> None:
    fake.reset()


async def _json(r: httpx.Response, status: int) -> Any:
    assert r.status_code == status, r.text
    return r.json()


async def scale(client: httpx.AsyncClient, admin: Member, *names: str) -> dict[str, str]:
    """Levels created in order (lowest first): their ids by name."""
    return {n: (await _json(await client.post(LEVELS, headers=admin.headers, json={"name": n}), 201))["id"]
            for n in names}


async def classify(client: httpx.AsyncClient, admin: Member, path: str, level: str | None) -> Any:
    return await _json(await client.patch(path, headers=admin.headers,
                                          json={"security_classification_id": level}), 200)


@pytest.fixture
async def chat(client: httpx.AsyncClient, make_user: Any, fake: FakeLLMServer) -> Chat:
    admin = await make_user()
    viewer = await make_user(Org(admin.tenant_id, ""), UserRole.user)
    return await make_chat(client, admin, viewer, fake)


def space_path(chat: Chat) -> str:
    return f"/api/v1/spaces/{chat.space}/"


def model_path(model: str) -> str:
    return f"/api/v1/completion-models/{model}/"


async def second_model(client: httpx.AsyncClient, chat: Chat, fake: FakeLLMServer) -> str:
    provider = await _json(await client.post("/api/v1/admin/model-providers/", headers=chat.admin.headers, json={
        "name": f"p-{uuid.uuid4().hex[:6]}", "type": "openai", "api_key": fake.api_key,
        "base_url": fake.openai_url}), 201)
    model = await _json(await client.post("/api/v1/completion-models/", headers=chat.admin.headers, json={
        "provider_id": provider["id"], "name": "gpt-other", "display_name": "Skyddad GPT",
        "context_window": 4096}), 201)
    return str(model["id"])


# --- the levels ------------------------------------------------------------------------------------


async def test_admins_define_ordered_levels_others_read_them(client: httpx.AsyncClient, make_user: Any) -> None:
    admin = await make_user()
    user = await make_user(Org(admin.tenant_id, ""), UserRole.user)
    ids = await scale(client, admin, "Öppen", "Intern", "Skyddad")
    listed = await _json(await client.get(LEVELS, headers=user.headers), 200)
    assert [(lv["name"], lv["position"]) for lv in listed["items"]] == [("Öppen", 1), ("Intern", 2), ("Skyddad", 3)]

    changed = await _json(await client.patch(f"{LEVELS}{ids['Intern']}/", headers=admin.headers,
                                             json={"description": "Internt material"}), 200)
    assert (changed["name"], changed["description"], changed["position"]) == ("Intern", "Internt material", 2)
    taken = await client.post(LEVELS, headers=admin.headers, json={"name": "Intern"})
    assert (taken.status_code, taken.json()["code"]) == (409, "classification_name_taken")
    renamed = await client.patch(f"{LEVELS}{ids['Öppen']}/", headers=admin.headers, json={"name": "Skyddad"})
    assert (renamed.status_code, renamed.json()["code"]) == (409, "classification_name_taken")

    for method, path, body in (("POST", LEVELS, {"name": "Hemlig"}),
                               ("PATCH", f"{LEVELS}{ids['Intern']}/", {"name": "x"}),
                               ("DELETE", f"{LEVELS}{ids['Intern']}/", None),
                               ("POST", f"{LEVELS}reorder/", {"ids": list(ids.values())})):
        r = await client.request(method, path, headers=user.headers, json=body)
        assert (r.status_code, r.json()["code"]) == (403, "permission_required"), (method, path)

    other = await make_user()
    for method in ("GET", "PATCH", "DELETE"):
        r = await client.request(method, f"{LEVELS}{ids['Intern']}/", headers=other.headers,
                                 json={"name": "stolen"} if method == "PATCH" else None)
        assert (r.status_code, r.json()["code"]) == (404, "not_found")
    assert (await _json(await client.get(LEVELS, headers=other.headers), 200))["items"] == []
    after = await _json(await client.get(LEVELS, headers=admin.headers), 200)
    assert [lv["name"] for lv in after["items"]] == ["Öppen", "Intern", "Skyddad"]


async def test_reorder_takes_every_level_once(client: httpx.AsyncClient, make_user: Any) -> None:
    admin = await make_user()
    ids = await scale(client, admin, "A", "B", "C")
    for wrong in ([ids["A"], ids["B"]], [ids["A"], ids["B"], ids["B"]],
                  [ids["A"], ids["B"], str(uuid.uuid4())]):
        r = await client.post(f"{LEVELS}reorder/", headers=admin.headers, json={"ids": wrong})
        assert (r.status_code, r.json()["details"][0]["field"]) == (422, "ids")
    done = await _json(await client.post(f"{LEVELS}reorder/", headers=admin.headers,
                                         json={"ids": [ids["C"], ids["A"], ids["B"]]}), 200)
    assert [(lv["name"], lv["position"]) for lv in done["items"]] == [("C", 1), ("A", 2), ("B", 3)]
    listed = await _json(await client.get(LEVELS, headers=admin.headers), 200)
    assert [lv["name"] for lv in listed["items"]] == ["C", "A", "B"]


async def test_a_level_in_use_is_not_deleted(client: httpx.AsyncClient, chat: Chat) -> None:
    ids = await scale(client, chat.admin, "Öppen", "Intern", "Skyddad")
    await classify(client, chat.admin, space_path(chat), ids["Intern"])
    await classify(client, chat.admin, model_path(chat.model), ids["Intern"])
    refused = await client.delete(f"{LEVELS}{ids['Intern']}/", headers=chat.admin.headers)
    assert (refused.status_code, refused.json()["code"]) == (409, "classification_in_use")
    assert "1 space(s), 1 completion model(s)" in refused.json()["message"]

    await classify(client, chat.admin, space_path(chat), None)
    await classify(client, chat.admin, model_path(chat.model), None)
    assert (await client.delete(f"{LEVELS}{ids['Intern']}/", headers=chat.admin.headers)).status_code == 204
    listed = await _json(await client.get(LEVELS, headers=chat.admin.headers), 200)
    assert [(lv["name"], lv["position"]) for lv in listed["items"]] == [("Öppen", 1), ("Skyddad", 2)]


async def test_spaces_and_every_kind_of_model_carry_a_level(client: httpx.AsyncClient, chat: Chat) -> None:
    ids = await scale(client, chat.admin, "Intern")
    space = await classify(client, chat.admin, space_path(chat), ids["Intern"])
    assert space["security_classification"] == {"id": ids["Intern"], "name": "Intern", "position": 1}
    assert space["stopped_assistants"] != []  # the chat's unclassified model no longer qualifies
    listed = await _json(await client.get("/api/v1/spaces/", headers=chat.viewer.headers), 200)
    assert {s["id"]: s["security_classification"] for s in listed["items"]}[chat.space]["name"] == "Intern"

    provider = await _json(await client.post("/api/v1/admin/model-providers/", headers=chat.admin.headers, json={
        "name": "whisper", "type": "openai_compatible", "base_url": "http://127.0.0.1:1/v1"}), 201)
    embedder = await _json(await client.post("/api/v1/embedding-models/", headers=chat.admin.headers, json={
        "provider_id": provider["id"], "name": "e", "dimensions": 8}), 201)
    transcriber = await _json(await client.post("/api/v1/transcription-models/", headers=chat.admin.headers, json={
        "provider_id": provider["id"], "name": "whisper-1"}), 201)
    for path in (f"/api/v1/embedding-models/{embedder['id']}/", f"/api/v1/transcription-models/{transcriber['id']}/",
                 model_path(chat.model)):
        assert (await classify(client, chat.admin, path, ids["Intern"]))["security_classification_id"] == ids["Intern"]
        assert (await _json(await client.get(path, headers=chat.admin.headers), 200))[
            "security_classification_id"] == ids["Intern"]
        # an id that is no level of this tenant: 422 naming the field, nothing changed
        r = await client.patch(path, headers=chat.admin.headers, json={"security_classification_id": str(uuid.uuid4())})
        assert (r.status_code, r.json()["details"][0]["field"]) == (422, "security_classification_id")
        assert (await classify(client, chat.admin, path, None))["security_classification_id"] is None

    # a viewer cannot classify the space (space admins do); an editor of models cannot either
    r = await client.patch(space_path(chat), headers=chat.viewer.headers, json={"security_classification_id": None})
    assert r.status_code == 403
    r = await client.patch(model_path(chat.model), headers=chat.viewer.headers,
                           json={"security_classification_id": None})
    assert (r.status_code, r.json()["code"]) == (403, "permission_required")


async def test_another_tenants_level_cannot_be_carried(client: httpx.AsyncClient, chat: Chat,
                                                       make_user: Any) -> None:
    other = await make_user()
    theirs = await scale(client, other, "Hemlig")
    for path in (space_path(chat), model_path(chat.model)):
        r = await client.patch(path, headers=chat.admin.headers, json={"security_classification_id": theirs["Hemlig"]})
        assert (r.status_code, r.json()["details"][0]["field"]) == (422, "security_classification_id")


# --- the rule --------------------------------------------------------------------------------------


async def test_an_assistant_is_never_bound_to_a_model_below_its_space(client: httpx.AsyncClient, chat: Chat,
                                                                      fake: FakeLLMServer) -> None:
    ids = await scale(client, chat.admin, "Öppen", "Intern", "Skyddad")
    await classify(client, chat.admin, model_path(chat.model), ids["Intern"])
    stronger = await second_model(client, chat, fake)
    await classify(client, chat.admin, model_path(stronger), ids["Skyddad"])
    await classify(client, chat.admin, space_path(chat), ids["Skyddad"])
    in_space = f"/api/v1/spaces/{chat.space}/applications/assistants/"
    before = (await _json(await client.get(in_space, headers=chat.admin.headers), 200))["items"]

    refused = await client.post(in_space, headers=chat.admin.headers,
                                json={"name": "Nej", "completion_model_id": chat.model})
    body = refused.json()
    assert (refused.status_code, body["code"]) == (422, "model_classification_too_low")
    assert "'Intern'" in body["message"] and "'Skyddad'" in body["message"]
    assert body["details"][0]["field"] == "completion_model_id"
    assert (await _json(await client.get(in_space, headers=chat.admin.headers), 200))["items"] == before

    made = await _json(await client.post(in_space, headers=chat.admin.headers,
                                         json={"name": "Ja", "completion_model_id": stronger}), 201)
    refused = await client.patch(f"/api/v1/assistants/{made['id']}/", headers=chat.admin.headers,
                                 json={"completion_model_id": chat.model, "name": "Bytt"})
    assert (refused.status_code, refused.json()["code"]) == (422, "model_classification_too_low")
    kept = await _json(await client.get(f"/api/v1/assistants/{made['id']}/", headers=chat.admin.headers), 200)
    assert (kept["name"], kept["completion_model_id"]) == ("Ja", stronger)

    # the editor's test pane: a draft with a model below the space is refused the same way
    refused = await client.post(f"/api/v1/assistants/{made['id']}/sessions/", headers=chat.admin.headers,
                                json={"question": "Hej?", "draft": {"completion_model_id": chat.model}})
    assert (refused.status_code, refused.json()["code"]) == (422, "model_classification_too_low")
    assert refused.json()["details"][0]["field"] == "draft.completion_model_id"
    assert fake.requests == []

    # an unclassified model serves only unclassified spaces
    await classify(client, chat.admin, model_path(stronger), None)
    refused = await client.post(in_space, headers=chat.admin.headers,
                                json={"name": "Nej", "completion_model_id": stronger})
    assert (refused.status_code, refused.json()["code"]) == (422, "model_classification_too_low")
    assert "unclassified" in refused.json()["message"]


async def test_raising_a_space_stops_its_assistants_and_says_which(client: httpx.AsyncClient, chat: Chat,
                                                                   fake: FakeLLMServer) -> None:
    ids = await scale(client, chat.admin, "Öppen", "Intern", "Skyddad")
    await classify(client, chat.admin, model_path(chat.model), ids["Intern"])
    assert (await classify(client, chat.admin, space_path(chat), ids["Intern"]))["stopped_assistants"] == []
    await _json(await client.post(chat.sessions, headers=chat.viewer.headers, json={"question": "Hej?"}), 201)

    raised = await classify(client, chat.admin, space_path(chat), ids["Skyddad"])
    assert raised["stopped_assistants"] == [{"id": chat.assistant, "name": "Helper", "space_id": chat.space}]
    fake.reset()
    refused = await client.post(chat.sessions, headers=chat.viewer.headers, json={"question": "Hej?"})
    assert (refused.status_code, refused.json()["code"]) == (409, "model_classification_too_low")
    assert "'Intern'" in refused.json()["message"] and "'Skyddad'" in refused.json()["message"]
    assert fake.requests == []  # refused before the provider heard anything

    # raising the model's level makes it answer again; the model's PATCH stops nobody
    assert (await classify(client, chat.admin, model_path(chat.model), ids["Skyddad"]))["stopped_assistants"] == []
    await _json(await client.post(chat.sessions, headers=chat.viewer.headers, json={"question": "Hej?"}), 201)
    assert len(fake.requests) == 1


async def test_lowering_a_model_reports_only_the_assistants_it_stopped(client: httpx.AsyncClient, chat: Chat,
                                                                       fake: FakeLLMServer) -> None:
    ids = await scale(client, chat.admin, "Intern", "Skyddad")
    await classify(client, chat.admin, model_path(chat.model), ids["Skyddad"])
    await classify(client, chat.admin, space_path(chat), ids["Skyddad"])
    # a second space, unclassified, with an assistant on the same model: lowering the model keeps it working
    other = await _json(await client.post("/api/v1/spaces/", headers=chat.admin.headers, json={"name": "Öppet"}), 201)
    kept = await _json(await client.post(f"/api/v1/spaces/{other['id']}/applications/assistants/",
                                         headers=chat.admin.headers,
                                         json={"name": "Öppen hjälp", "completion_model_id": chat.model}), 201)
    lowered = await classify(client, chat.admin, model_path(chat.model), ids["Intern"])
    assert lowered["stopped_assistants"] == [{"id": chat.assistant, "name": "Helper", "space_id": chat.space}]
    assert lowered["security_classification_id"] == ids["Intern"]
    # changing it again, still too low, reports nothing new: it was stopped already
    assert (await classify(client, chat.admin, model_path(chat.model), None))["stopped_assistants"] == []
    refused = await client.post(chat.sessions, headers=chat.viewer.headers, json={"question": "Hej?"})
    assert refused.status_code == 409
    await _json(await client.post(f"/api/v1/assistants/{kept['id']}/sessions/", headers=chat.admin.headers,
                                  json={"question": "Hej?"}), 201)


async def test_reordering_the_levels_rechecks_every_assistant(client: httpx.AsyncClient, chat: Chat,
                                                              fake: FakeLLMServer) -> None:
    ids = await scale(client, chat.admin, "Intern", "Skyddad")
    await classify(client, chat.admin, model_path(chat.model), ids["Skyddad"])
    await classify(client, chat.admin, space_path(chat), ids["Intern"])
    await _json(await client.post(chat.sessions, headers=chat.viewer.headers, json={"question": "Hej?"}), 201)

    # "Skyddad" now below "Intern": the model (Skyddad) is below the space (Intern)
    swapped = await _json(await client.post(f"{LEVELS}reorder/", headers=chat.admin.headers,
                                            json={"ids": [ids["Skyddad"], ids["Intern"]]}), 200)
    assert swapped["stopped_assistants"] == [{"id": chat.assistant, "name": "Helper", "space_id": chat.space}]
    fake.reset()
    refused = await client.post(chat.sessions, headers=chat.viewer.headers, json={"question": "Hej?"})
    assert (refused.status_code, refused.json()["code"]) == (409, "model_classification_too_low")
    assert fake.requests == []

    back = await _json(await client.post(f"{LEVELS}reorder/", headers=chat.admin.headers,
                                         json={"ids": [ids["Intern"], ids["Skyddad"]]}), 200)
    assert back["stopped_assistants"] == []
    await _json(await client.post(chat.sessions, headers=chat.viewer.headers, json={"question": "Hej?"}), 201)
