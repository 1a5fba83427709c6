"""What each function of template.yaml imports at a cold start, and the environment it needs to do so.

bench/import_time.py times these imports and layers/check_functions.py runs them against the built
layers: one reading of the template for both, here rather than in one of them, so that neither imports
the other's folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eneo_local.intrinsics import load_yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"

# What an environment variable gets when the template leaves it to a parameter without a Default.
DUMMY_ENV = {
    "DATABASE_URL": "postgresql+psycopg://eneo_app:bench@127.0.0.1:9/eneo",
    "REDIS_URL": "redis://127.0.0.1:9/0",
    "JWT_SECRET": "bench-secret-" + "x" * 32,
    "SUPER_API_KEY": "bench-super-key-" + "x" * 32,
    "ENCRYPTION_KEY": "bench-encryption-key-" + "x" * 32,
}


@dataclass(frozen=True)
class FunctionImport:
    """One AWS::Serverless::Function: its handler module and attribute, sys.path (CodeUri, then what the
    EneoLayer holds) and environment (nothing connects at import time, so dummies do)."""

    name: str
    module: str
    attr: str
    path: tuple[Path, ...]
    env: dict[str, str]


def _resolve(name: str, value: Any, parameters: dict[str, Any]) -> str:
    if isinstance(value, dict) and "Ref" in value:
        default = (parameters.get(value["Ref"]) or {}).get("Default")
        if default is not None:
            return str(default)
    elif not isinstance(value, dict):
        return str(value)
    return DUMMY_ENV.get(name, "bench")


def function_imports(template_path: Path = TEMPLATE) -> list[FunctionImport]:
    """Every AWS::Serverless::Function of the template, in its order."""
    template = load_yaml(template_path)
    parameters = template.get("Parameters") or {}
    glob = (template.get("Globals") or {}).get("Function") or {}
    found = []
    for name, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties") or {}
        code_uri = props.get("CodeUri", glob.get("CodeUri"))
        module, _, attr = str(props.get("Handler", glob.get("Handler", ""))).rpartition(".")
        variables = {
            **((glob.get("Environment") or {}).get("Variables") or {}),
            **((props.get("Environment") or {}).get("Variables") or {}),
        }
        env = {k: _resolve(k, v, parameters) for k, v in variables.items()}
        found.append(FunctionImport(name, module, attr, (ROOT / str(code_uri), ROOT / "shared"), env))
    return found
