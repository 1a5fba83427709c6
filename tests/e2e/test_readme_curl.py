"""README's curl blocks ("Try it with curl" and "Knowledge"), pasted into bash in order, against the local stack
and its bundled model: log in, list and make spaces, see the local model as the default, make an assistant,
ask it (answered in the response and streamed), read the stream over SSE to its end, ask twice with one
Idempotency-Key, make a collection, upload the sample PDF, wait for it to be ready, search it, and get an
answer that cites it.

Only what differs between a developer's `make up` and this test's stack is replaced: the API's address, the
first admin's e-mail, and the data folder the password file is in. The blocks run in the repository's root,
as the README's relative paths (the sample PDF) expect."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.shell_samples import json_documents, run_sh, sh_blocks

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SAMPLE_API = "API=http://127.0.0.1:8000"
SAMPLE_ADMIN = "username=admin@example.org"
SAMPLE_PASSWORD = "password@.eneo-data/initial-admin-password"


def curl_blocks() -> list[str]:
    """The sh blocks from "Try it with curl" up to "A real model provider" (which needs a provider's key)."""
    return sh_blocks(README.read_text().split("## Try it with curl", 1)[1].split("### A real model provider", 1)[0])


def test_the_readme_curl_blocks_work_as_pasted(stack, tmp_path: Path) -> None:
    blocks = curl_blocks()
    script = "\n".join(blocks)
    for sample in (SAMPLE_API, SAMPLE_ADMIN, SAMPLE_PASSWORD):
        assert script.count(sample) == 1, f"the README's {sample!r} changed: update this test"
    (tmp_path / "initial-admin-password").write_text(stack.admin_password)
    script = script.replace(SAMPLE_API, f"API={stack.base_url}").replace(
        SAMPLE_ADMIN, f"username={stack.admin_email}").replace(
        SAMPLE_PASSWORD, f"password@{tmp_path / 'initial-admin-password'}")
    # The idempotent ask is to be sent "as often as needed": its curl once more at the end, with the same key.
    keyed = next(b for b in blocks if b.startswith("KEY="))
    assert "Idempotency-Key: $KEY" in keyed
    script += "\n" + keyed.split("\n", 1)[1]
    script += '\necho; echo "IDS $SPACE $ASSISTANT $Q $GROUP $BLOB"\n'  # the ids the sample kept in shell variables
    run = run_sh(script, {}, cwd=ROOT, timeout=400)
    space, assistant, streamed_id, group, blob = run.stdout.splitlines()[-1].split()[1:]
    documents = json_documents(run.stdout)

    spaces, shared, models = documents[0], documents[1], documents[2]
    assert any(s["id"] == space and s["personal"] for s in spaces["items"]), spaces
    assert shared["name"] == "Socialtjänst" and not shared["personal"], shared
    assert [m["name"] for m in models["items"] if m["is_default"]] == ["SmolLM2-135M-Instruct"], models

    # The first ask is answered in the response (an error body here would say why: `code`, `message`).
    after_models = documents[3]
    assert after_models.get("question", {}).get("question") == "What is the capital of France?", after_models
    answered = after_models["question"]
    assert answered["status"] == "completed" and answered["answer"].strip(), answered
    asks = [d for d in documents if isinstance(d.get("question"), dict)]

    # The SSE loop prints each entry's data: the streamed question's text, then its `done` entry.
    entries = [d for d in documents if d.get("type") in {"text", "done", "error"}]
    assert entries and entries[-1]["type"] == "done", entries[-3:]
    assert "".join(e.get("text", "") for e in entries if e["type"] == "text").strip()

    # The document became ready (the wait loop echoes its last status) and the search found its passage.
    assert re.search(r"(^|\})ready$", run.stdout, re.MULTILINE), run.stdout[-2000:]
    search = next(d for d in documents if "items" in d and d["items"] and "score" in d["items"][0])
    assert search["items"][0]["info_blob_id"] == blob and "snö" in search["items"][0]["text"].lower(), search

    # The assistant was given the collection, and its answer from it cites the document; the keyed ask sent
    # twice made one question.
    patched = next(d for d in documents if d.get("id") == assistant)
    assert [g["id"] for g in patched["groups"]] == [group], patched
    cited = next(a["question"] for a in asks if a["question"]["question"].startswith("Hur djup"))
    # References are passages, numbered as the answer cites them: here each is a passage of the one document.
    refs = cited["references"]
    assert cited["status"] == "completed" and refs and {r["id"] for r in refs} == {blob}, cited
    assert [r["n"] for r in refs] == list(range(1, len(refs) + 1)), refs
    keyed_ids = [a["question"]["id"] for a in asks if a["question"]["question"] == "Name three colours."
                 and a["question"]["id"] != streamed_id]
    assert len(keyed_ids) == 2 and keyed_ids[0] == keyed_ids[1], asks
