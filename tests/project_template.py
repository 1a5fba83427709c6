"""The project's template.yaml as the local stack reads it, for tests that route or list functions by it."""

import functools
from pathlib import Path

from eneo_local.routes import RouteTable
from eneo_local.template import StackTemplate, load_template

ROOT = Path(__file__).resolve().parents[1]


@functools.cache
def project_template() -> StackTemplate:
    dummy = "x" * 32  # parameters without a default; never used to connect (the test env has the real ones)
    return load_template(ROOT / "template.yaml", {
        "DatabaseUrl": dummy, "RedisUrl": dummy, "JwtSecret": dummy, "SuperApiKey": dummy, "EncryptionKey": dummy})


@functools.cache
def http_routes() -> RouteTable:
    return RouteTable(project_template().routes)


def http_function_folders() -> dict[str, str]:
    """Logical id → folder under functions/, for every function that has HTTP routes."""
    template = project_template()
    routed = {route.function for route in template.routes}
    return {name: spec.code_uri.name for name, spec in template.functions.items() if name in routed}
