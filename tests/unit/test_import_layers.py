"""The order of shared/eneo's packages, read from their imports: a package imports only from layers below it.

The same contract as import-linter's `layers`, read with ast by tests/import_graph.py (every import counts,
lazy and TYPE_CHECKING ones too). Imports of ORM tables (`eneo.<package>.models`, `eneo.models`) are left
out: tables point at each other by foreign keys, and SQLAlchemy resolves them by name. A change that makes
a lower package import a higher one (knowledge importing ingestion, a helper in core importing a domain)
fails here with the import that did it, instead of growing a cycle nobody sees.
"""

from tests.import_graph import cycles, is_table_module, module_graph, package_of

# Top to bottom; packages of one layer do not import each other.
LAYERS: list[set[str]] = [
    {"models"},  # the registry of every ORM table
    {"privacy"},  # retention, export, erasure: reach into every domain that holds a user's data
    {"realtime", "sessions", "ingestion", "api_keys", "tenants", "sso"},  # what the functions host
    {"answers"},
    {"assistants"},
    {"websites"},  # assistants take websites as knowledge; a website's search is retrieval's
    {"retrieval"},
    {"knowledge", "users"},
    {"spaces", "model_providers"},  # model_providers.clients turns a model row into an embedder
    {"classifications"},  # the rule spaces, models, assistants and questions check; reads their tables only
    {"embeddings"},
    {"usage"},  # checked and counted by the domains above; its quota changes are audited
    {"audit"},  # recorded by the domains above, from their routes
    {"personal_data"},  # masking before external providers: answers (chat) and model_providers (embeddings)
    {"auth", "llm", "crawler"},
    {"permissions"},  # the tenant-role policy, user groups' tables and model limits: every request checks them
    {"core"},  # settings, database, Redis, S3/SQS, streams, queue messages: imports no domain
]
LEVEL = {package: level for level, layer in enumerate(LAYERS) for package in layer}


def test_every_package_has_a_layer() -> None:
    packages = {package_of(m) for m in module_graph()} - {"eneo"}
    assert packages == set(LEVEL), "place a new package in LAYERS (or drop a gone one)"


def test_packages_import_only_from_layers_below() -> None:
    wrong = []
    for source, targets in module_graph().items():
        for target in targets:
            here, there = package_of(source), package_of(target)
            if "eneo" in (here, there) or here == there or is_table_module(target):
                continue
            if LEVEL[here] >= LEVEL[there]:
                wrong.append(f"{source} imports {target}")
    assert not wrong, "imports against the layers:\n" + "\n".join(sorted(wrong))


def test_no_module_imports_itself_through_others() -> None:
    """Cycles between modules, ORM tables included: a lazy import hides one from Python, not from a reader."""
    assert cycles(module_graph()) == []


def test_the_contract_sees_a_wrong_import() -> None:
    """The graph reader finds a lazy import: the test above would fail for one."""
    graph = module_graph()
    assert "eneo.embeddings.minilm" in graph["eneo.embeddings.local"], "local.py imports minilm inside a function"
    assert cycles({**graph, "eneo.core.storage": {*graph["eneo.core.storage"], "eneo.knowledge.service.uploads"}}) != []
