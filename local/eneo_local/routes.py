"""Route selection as API Gateway HTTP APIs do it.

A request goes to the most specific route that matches it:
exact paths before paths with `{param}`, `{proxy+}` (greedy) last, and among those the one whose
segments are literal the furthest (the longest literal prefix); for the same path a route with the
request's method before `ANY`; `$default` only when nothing else matches. A trailing slash in the
request is ignored for matching (`/api/v1/spaces/` matches `/api/v1/spaces`); the event still
carries the path as sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote

if TYPE_CHECKING:  # only a type here: the FaaS images (eneo_local.faas) ship this module without template.py
    from eneo_local.template import HttpRoute

_LITERAL, _PARAM, _GREEDY = 0, 1, 2


@dataclass(frozen=True)
class Match:
    route: HttpRoute
    path_parameters: dict[str, str]


@dataclass(frozen=True)
class _Compiled:
    route: HttpRoute
    segments: tuple[tuple[int, str], ...]  # (kind, literal text or parameter name)
    rank: tuple[object, ...]

    def match(self, parts: list[str]) -> dict[str, str] | None:
        params: dict[str, str] = {}
        for i, (kind, text) in enumerate(self.segments):
            if kind == _GREEDY:
                rest = parts[i:]
                if not rest or rest == [""]:
                    return None  # {proxy+} needs at least one segment
                params[text] = unquote("/".join(rest))
                return params
            if i >= len(parts):
                return None
            if kind == _LITERAL:
                if unquote(parts[i]) != text:
                    return None
            elif not parts[i]:
                return None
            else:
                params[text] = unquote(parts[i])
        return params if len(parts) == len(self.segments) else None


def _compile(route: HttpRoute) -> _Compiled:
    segments: list[tuple[int, str]] = []
    if route.path != "$default":
        for part in route.path.strip("/").split("/") if route.path != "/" else []:
            if part.startswith("{") and part.endswith("+}"):
                segments.append((_GREEDY, part[1:-2]))
            elif part.startswith("{") and part.endswith("}"):
                segments.append((_PARAM, part[1:-1]))
            else:
                segments.append((_LITERAL, part))
    kinds = tuple(kind for kind, _ in segments)
    path_class = 3 if route.path == "$default" else max(kinds, default=_LITERAL)
    rank = (path_class, kinds, -len(kinds), route.method == "ANY")
    return _Compiled(route, tuple(segments), rank)


class RouteTable:
    """The routes of one HTTP API, sorted so that the first match is the one API Gateway picks."""

    def __init__(self, routes: Iterable[HttpRoute]) -> None:
        compiled = [_compile(r) for r in routes]
        seen: dict[str, HttpRoute] = {}
        for c in compiled:
            if (other := seen.get(c.route.route_key)) is not None:
                raise ValueError(f"route {c.route.route_key!r} is defined twice "
                                 f"({other.function}.{other.event} and {c.route.function}.{c.route.event})")
            seen[c.route.route_key] = c.route
        self._routes = sorted(compiled, key=lambda c: c.rank)

    def __len__(self) -> int:
        return len(self._routes)

    def match(self, method: str, path: str) -> Match | None:
        """The route for `METHOD path` (path percent-encoded as sent), or None (404)."""
        method = method.upper()
        trimmed = path.rstrip("/") or "/"
        parts = [] if trimmed == "/" else trimmed.lstrip("/").split("/")
        for c in self._routes:
            if c.route.method not in (method, "ANY"):
                continue
            if c.route.path == "$default":
                return Match(c.route, {})
            params = c.match(parts)
            if params is not None:
                return Match(c.route, params)
        return None
