"""Who may do what in the organisation: the one place that decides.

A user holds one tenant role: a built-in one (admin, user; fixed ids, the same in every tenant) or one
of the tenant's custom roles (eneo.users.roles). A role is a set of named permissions. Every HTTP
route has an entry in ROUTES: a permission, SIGNED_IN (any user of the tenant; the space role or the
ownership of the thing then decides), PUBLIC (no credentials) or SYSADMIN (the platform operator).
`authenticated` (eneo.auth.deps) checks the route's entry for every request, and refuses a route that
has none: a route added without a decision is forbidden, never open (and fails the route table test).
Inside a space, the space role decides (eneo.spaces.policy); this module decides what is above spaces.
"""

import enum
import uuid
from typing import Final, Protocol

from eneo.core.errors import Forbidden
from eneo.users.models import UserRole


class Permission(enum.StrEnum):
    use_assistants = "use_assistants"  # ask assistants questions, keep sessions
    create_assistants = "create_assistants"  # create, change and delete assistants in spaces one edits
    manage_collections = "manage_collections"  # create collections and upload documents in spaces one edits
    manage_websites = "manage_websites"  # add, change and crawl websites in spaces one edits
    see_insights = "see_insights"  # token and storage usage, quotas
    administer_users = "administer_users"  # users, roles, user groups, single sign-on, erasure
    administer_models = "administer_models"  # providers, models, classifications, quotas
    administer_audit = "administer_audit"  # the audit log, retention periods, the tenant's settings


class Access(enum.StrEnum):
    """A route's decision when no single permission is needed."""

    public = "public"
    signed_in = "signed_in"
    sysadmin = "sysadmin"


class Holder(Protocol):
    """Whoever acts (eneo.auth.principal.Principal): only what their role grants matters here."""

    @property
    def permissions(self) -> frozenset["Permission"]: ...


PUBLIC, SIGNED_IN, SYSADMIN = Access.public, Access.signed_in, Access.sysadmin
Decision = Permission | Access

BUILTIN_ADMIN_ID: Final = uuid.UUID("00000000-0000-4000-8000-00000000ad01")
BUILTIN_USER_ID: Final = uuid.UUID("00000000-0000-4000-8000-00000000ad02")
BUILTIN_IDS: Final = {UserRole.admin: BUILTIN_ADMIN_ID, UserRole.user: BUILTIN_USER_ID}
BUILTIN_ROLES: Final[dict[UserRole, frozenset[Permission]]] = {
    UserRole.admin: frozenset(Permission),
    UserRole.user: frozenset({Permission.use_assistants, Permission.create_assistants,
                              Permission.manage_collections, Permission.manage_websites}),
}


def builtin_permissions(role: UserRole) -> frozenset[Permission]:
    return BUILTIN_ROLES[role]


def parse_permissions(names: list[str]) -> frozenset[Permission]:
    """A custom role's stored names; one no longer known (a renamed permission) grants nothing."""
    known = {p.value for p in Permission}
    return frozenset(Permission(n) for n in names if n in known)


def allows(p: Holder, permission: Permission) -> bool:
    return permission in p.permissions


def require(p: Holder, permission: Permission) -> None:
    """403 `permission_required`, naming the permission the caller's role lacks."""
    if not allows(p, permission):
        raise Forbidden(f"Your role does not have the permission '{permission.value}'",
                        code="permission_required", details=[{"permission": permission.value}])


def overrides_space_roles(p: Holder) -> bool:
    """A user administrator may change the content of a space they are a member of, whatever their role
    there (so an organisation can always clean up a space)."""
    return allows(p, Permission.administer_users)


# Every HTTP route of every function: "METHOD path" (path as FastAPI declares it) -> its decision.
ROUTES: Final[dict[str, Decision]] = {
    # health, API documents and sign-in
    **{f"GET /api/v1/health/{fn}": PUBLIC for fn in (
        "auth", "spaces", "models", "assistants", "sessions", "knowledge", "admin", "privacy")},
    **{f"GET /api/v1/docs/{fn}/openapi.json": PUBLIC for fn in (
        "auth", "spaces", "models", "assistants", "sessions", "knowledge", "admin", "privacy")},
    "POST /api/v1/users/login/token/": PUBLIC,
    "POST /api/v1/users/login/refresh/": PUBLIC,
    "POST /api/v1/users/logout/": PUBLIC,
    "POST /api/v1/users/invitations/accept/": PUBLIC,
    "GET /api/v1/sso/sign-in-options/": PUBLIC,
    "POST /api/v1/sso/start/": PUBLIC,
    "POST /api/v1/sso/callback/": PUBLIC,
    # the platform operator
    "POST /api/v1/sysadmin/tenants/": SYSADMIN,
    "GET /api/v1/sysadmin/tenants/": SYSADMIN,
    "GET /api/v1/sysadmin/tenants/{tenant_id}/": SYSADMIN,
    "PATCH /api/v1/sysadmin/tenants/{tenant_id}/": SYSADMIN,
    "POST /api/v1/sysadmin/tenants/{tenant_id}/users/": SYSADMIN,
    # oneself
    "GET /api/v1/users/me/": SIGNED_IN,
    "POST /api/v1/users/me/password/": SIGNED_IN,
    "POST /api/v1/users/me/totp/": SIGNED_IN,
    "POST /api/v1/users/me/totp/confirm/": SIGNED_IN,
    "POST /api/v1/users/me/totp/recovery-codes/": SIGNED_IN,
    "POST /api/v1/users/me/totp/disable/": SIGNED_IN,
    "POST /api/v1/api-keys/": SIGNED_IN,
    "GET /api/v1/api-keys/": SIGNED_IN,
    "DELETE /api/v1/api-keys/{key_id}/": SIGNED_IN,
    # users, roles, groups
    "GET /api/v1/users/": Permission.administer_users,
    "POST /api/v1/users/": Permission.administer_users,
    "GET /api/v1/users/{user_id}/": SIGNED_IN,  # oneself; others with administer_users (eneo.users.service)
    "PATCH /api/v1/users/{user_id}/": Permission.administer_users,
    "POST /api/v1/users/{user_id}/invitation/": Permission.administer_users,
    "DELETE /api/v1/users/{user_id}/totp/": Permission.administer_users,
    "DELETE /api/v1/users/{user_id}/": Permission.administer_users,
    "GET /api/v1/roles/": Permission.administer_users,
    "POST /api/v1/roles/": Permission.administer_users,
    "GET /api/v1/roles/{role_id}/": Permission.administer_users,
    "PATCH /api/v1/roles/{role_id}/": Permission.administer_users,
    "DELETE /api/v1/roles/{role_id}/": Permission.administer_users,
    "GET /api/v1/user-groups/": SIGNED_IN,  # a space admin picks groups to add to the space
    "POST /api/v1/user-groups/": Permission.administer_users,
    "GET /api/v1/user-groups/{group_id}/": SIGNED_IN,
    "PATCH /api/v1/user-groups/{group_id}/": Permission.administer_users,
    "DELETE /api/v1/user-groups/{group_id}/": Permission.administer_users,
    "POST /api/v1/user-groups/{group_id}/members/": Permission.administer_users,
    "DELETE /api/v1/user-groups/{group_id}/members/{user_id}/": Permission.administer_users,
    "GET /api/v1/sso/providers/": Permission.administer_users,
    "POST /api/v1/sso/providers/": Permission.administer_users,
    "GET /api/v1/sso/providers/{provider_id}/": Permission.administer_users,
    "PATCH /api/v1/sso/providers/{provider_id}/": Permission.administer_users,
    "DELETE /api/v1/sso/providers/{provider_id}/": Permission.administer_users,
    "POST /api/v1/privacy/users/{user_id}/export/": SIGNED_IN,  # oneself, or a user administrator
    "POST /api/v1/privacy/users/{user_id}/erasure/": Permission.administer_users,
    # spaces: the space role decides
    "POST /api/v1/spaces/": SIGNED_IN,
    "GET /api/v1/spaces/": SIGNED_IN,
    "GET /api/v1/spaces/{space_id}/": SIGNED_IN,
    "PATCH /api/v1/spaces/{space_id}/": SIGNED_IN,
    "DELETE /api/v1/spaces/{space_id}/": SIGNED_IN,
    "POST /api/v1/spaces/{space_id}/members/": SIGNED_IN,
    "PATCH /api/v1/spaces/{space_id}/members/{user_id}/": SIGNED_IN,
    "DELETE /api/v1/spaces/{space_id}/members/{user_id}/": SIGNED_IN,
    "POST /api/v1/spaces/{space_id}/group-members/": SIGNED_IN,
    "PATCH /api/v1/spaces/{space_id}/group-members/{group_id}/": SIGNED_IN,
    "DELETE /api/v1/spaces/{space_id}/group-members/{group_id}/": SIGNED_IN,
    # assistants and their use
    "POST /api/v1/spaces/{space_id}/applications/assistants/": Permission.create_assistants,
    "GET /api/v1/spaces/{space_id}/applications/assistants/": SIGNED_IN,
    "GET /api/v1/assistants/": SIGNED_IN,
    "GET /api/v1/assistants/{assistant_id}/": SIGNED_IN,
    "PATCH /api/v1/assistants/{assistant_id}/": Permission.create_assistants,
    "DELETE /api/v1/assistants/{assistant_id}/": Permission.create_assistants,
    "GET /api/v1/assistants/{assistant_id}/prompts/": SIGNED_IN,
    "POST /api/v1/assistants/{assistant_id}/prompts/{version}/restore/": Permission.create_assistants,
    "POST /api/v1/assistants/{assistant_id}/sessions/": Permission.use_assistants,
    "GET /api/v1/assistants/{assistant_id}/sessions/": Permission.use_assistants,
    "POST /api/v1/assistants/{assistant_id}/sessions/{session_id}/": Permission.use_assistants,
    "GET /api/v1/assistants/{assistant_id}/sessions/{session_id}/": Permission.use_assistants,
    "DELETE /api/v1/assistants/{assistant_id}/sessions/{session_id}/": Permission.use_assistants,
    "POST /api/v1/assistants/{assistant_id}/sessions/{session_id}/feedback/": Permission.use_assistants,
    "GET /api/v1/questions/{question_id}/": Permission.use_assistants,
    "GET /api/v1/questions/{question_id}/stream": Permission.use_assistants,
    "POST /api/v1/questions/{question_id}/cancel/": Permission.use_assistants,
    # knowledge
    "POST /api/v1/spaces/{space_id}/knowledge/groups/": Permission.manage_collections,
    "GET /api/v1/spaces/{space_id}/knowledge/groups/": SIGNED_IN,
    "GET /api/v1/groups/{group_id}/": SIGNED_IN,
    "PATCH /api/v1/groups/{group_id}/": Permission.manage_collections,
    "DELETE /api/v1/groups/{group_id}/": Permission.manage_collections,
    "GET /api/v1/groups/{group_id}/info-blobs/": SIGNED_IN,
    "POST /api/v1/groups/{group_id}/info-blobs/upload-url/": Permission.manage_collections,
    "POST /api/v1/groups/{group_id}/info-blobs/upload/": Permission.manage_collections,
    "POST /api/v1/groups/{group_id}/searches/": SIGNED_IN,
    "GET /api/v1/info-blobs/{blob_id}/": SIGNED_IN,
    "GET /api/v1/info-blobs/{blob_id}/chunks/": SIGNED_IN,
    "GET /api/v1/info-blobs/{blob_id}/chunks/{chunk_index}/": SIGNED_IN,
    "GET /api/v1/info-blobs/{blob_id}/download/": SIGNED_IN,
    "PATCH /api/v1/info-blobs/{blob_id}/": Permission.manage_collections,
    "DELETE /api/v1/info-blobs/{blob_id}/": Permission.manage_collections,
    "POST /api/v1/info-blobs/{blob_id}/retry/": Permission.manage_collections,
    "GET /api/v1/limits/": SIGNED_IN,
    "POST /api/v1/spaces/{space_id}/knowledge/websites/": Permission.manage_websites,
    "GET /api/v1/spaces/{space_id}/knowledge/websites/": SIGNED_IN,
    "GET /api/v1/websites/{website_id}/": SIGNED_IN,
    "PATCH /api/v1/websites/{website_id}/": Permission.manage_websites,
    "DELETE /api/v1/websites/{website_id}/": Permission.manage_websites,
    "POST /api/v1/websites/{website_id}/searches/": SIGNED_IN,
    "POST /api/v1/websites/{website_id}/run/": Permission.manage_websites,
    "GET /api/v1/websites/{website_id}/runs/": SIGNED_IN,
    "GET /api/v1/crawl-runs/{run_id}/": SIGNED_IN,
    # models
    "POST /api/v1/admin/model-providers/": Permission.administer_models,
    "GET /api/v1/admin/model-providers/": Permission.administer_models,
    "GET /api/v1/admin/model-providers/{provider_id}/": Permission.administer_models,
    "PATCH /api/v1/admin/model-providers/{provider_id}/": Permission.administer_models,
    "DELETE /api/v1/admin/model-providers/{provider_id}/": Permission.administer_models,
    "POST /api/v1/admin/model-providers/{provider_id}/test/": Permission.administer_models,
    **{f"{m} /api/v1/{kind}-models/{{model_id}}/": d for kind in ("completion", "embedding", "transcription")
       for m, d in (("GET", SIGNED_IN), ("PATCH", Permission.administer_models),
                    ("DELETE", Permission.administer_models))},
    **{f"{m} /api/v1/{kind}-models/": d for kind in ("completion", "embedding", "transcription")
       for m, d in (("GET", SIGNED_IN), ("POST", Permission.administer_models))},
    "GET /api/v1/security-classifications/": SIGNED_IN,
    "POST /api/v1/security-classifications/": Permission.administer_models,
    "POST /api/v1/security-classifications/reorder/": Permission.administer_models,
    "GET /api/v1/security-classifications/{level_id}/": SIGNED_IN,
    "PATCH /api/v1/security-classifications/{level_id}/": Permission.administer_models,
    "DELETE /api/v1/security-classifications/{level_id}/": Permission.administer_models,
    # insights, audit, retention
    "GET /api/v1/token-usage/": Permission.see_insights,
    "GET /api/v1/storage-usage/": Permission.see_insights,
    "GET /api/v1/quotas/": Permission.see_insights,
    "PATCH /api/v1/quotas/": Permission.administer_models,
    "GET /api/v1/audit/logs/": Permission.administer_audit,
    "GET /api/v1/audit/logs/export/": Permission.administer_audit,
    "GET /api/v1/settings/": SIGNED_IN,  # any user may see whether their questions are masked
    "PATCH /api/v1/settings/": Permission.administer_audit,  # eneo.tenants.settings
    "GET /api/v1/retention/tenant/": SIGNED_IN,
    "PUT /api/v1/retention/tenant/": Permission.administer_audit,
    "DELETE /api/v1/retention/tenant/": Permission.administer_audit,
    **{f"{m} /api/v1/retention/{kind}/{{{kind[:-1]}_id}}/": SIGNED_IN for kind in ("spaces", "assistants")
       for m in ("GET", "PUT", "DELETE")},
}


_DECLARED: dict[tuple[str, int], list[list[str]]] = {}
for _key in ROUTES:
    _method, _path = _key.split(" ", 1)
    _DECLARED.setdefault((_method, _path.count("/")), []).append(_path.split("/"))


def declared_path(method: str, path: str, params: dict[str, str]) -> str | None:
    """The entry's path that a request's path fits, with `params` (its path parameters) where the entry has
    {parameters}. Fitted segment by segment, so a value that repeats or equals a fixed segment
    (`/user-groups/{x}/members/{x}/`, `/users/api/`) still names its own route."""
    segments = path.split("/")
    for parts in _DECLARED.get((method.upper(), len(segments) - 1), []):
        names = {p[1:-1] for p in parts if p.startswith("{")}
        if names == set(params) and all(params[p[1:-1]] == s if p.startswith("{") else p == s
                                        for p, s in zip(parts, segments, strict=True)):
            return "/".join(parts)
    return None


def decision(method: str, path: str) -> Decision | None:
    """The route's entry, None if it has none."""
    return ROUTES.get(f"{method.upper()} {path}")


def check_route(p: Holder, method: str, path: str) -> None:
    """Raise unless the signed-in caller may call the route (`path` as declared, with its {parameters})."""
    entry = decision(method, path)
    if entry is None:
        raise Forbidden("This route has no permission decision; it is refused until it has one",
                        code="route_not_decided")
    if isinstance(entry, Permission):
        require(p, entry)
