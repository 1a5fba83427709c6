"""Model providers and completion models: tenant admins configure them, everyone's assistants use them.

Decisions (and why):
* A provider's API key is encrypted at rest (eneo.core.crypto) with the tenant and provider ids as
  associated data, and never leaves this module except towards the provider itself.
* Deleting a provider that still has models, or a model that assistants use, is refused (409) with
  a count: a cascade would silently break assistants people rely on. Disabling a model is always
  allowed and reversible; its assistants then refuse to answer until it is enabled again or they
  are moved (`eneo.model_providers.clients.ChatTarget.enabled`).
* Changing where a provider with a stored key is reached (base_url, endpoint) requires the key in
  the same request: otherwise an admin could point the provider at their own server, press "test
  connection" and receive the stored key there.
* A base_url or endpoint whose host is or resolves to a loopback, private, link-local (metadata), CGNAT or other
  non-public address is refused (422) unless the deployment allows the host (eneo.core.outbound: otherwise an
  admin could make the platform call its own network, and learn from the connection test which ports are open);
  every connection is checked again when it is made (eneo.core.outbound_http), against DNS rebinding. This covers
  completion, embedding and transcription models alike: they all reach their provider through these fields.
* The managed provider (the local stack's model server) is the deployment's, not the admin's: it
  cannot be edited or deleted here, its models can be disabled, and `ensure_managed_provider`
  never undoes an admin's choice (see there).
"""

import logging
import re
import uuid
from typing import cast

from sqlalchemy import func, select

from eneo.assistants.models import Assistant
from eneo.auth.principal import Principal
from eneo.classifications.schemas import Stopped
from eneo.classifications.service import blocked, chosen_level, newly_stopped
from eneo.core.crypto import DecryptionError, aad_for, decrypt_secret, encrypt_secret
from eneo.core.db import UnitOfWork
from eneo.core.errors import Conflict, NotFound
from eneo.core.ids import new_id
from eneo.core.outbound import check_url
from eneo.core.pagination import paginate
from eneo.llm import ProviderConfig, ProviderError, test_connection
from eneo.llm import ProviderType as LlmProviderType
from eneo.model_providers.lookups import default_model, usable_model
from eneo.model_providers.models import CompletionModel, ModelProvider, ProviderType
from eneo.model_providers.rules import (
    check_default,
    find_provided_model,
    flush_or,
    invalid,
    make_default,
    page_of_models,
    settle_default,
    tenant_provider,
)
from eneo.model_providers.schemas import (
    ConnectionResult,
    ModelCreate,
    ModelOut,
    ModelUpdate,
    ModelUpdated,
    ProviderCreate,
    ProviderOut,
    ProviderUpdate,
)
from eneo.model_providers.transcription_service import transcription_models_using
from eneo.permissions.model_access import chosen_groups

__all__ = ["default_model", "ensure_managed_provider", "provider_config", "usable_model"]

log = logging.getLogger(__name__)

CONFIG_FIELDS = ("base_url", "endpoint", "api_version")
ADDRESS_FIELDS = ("base_url", "endpoint")  # where the key is sent
# Per type: the config fields it must have, and those it may have.
REQUIRED: dict[ProviderType, set[str]] = {
    ProviderType.openai: {"api_key"},
    ProviderType.azure: {"api_key", "endpoint", "api_version"},
    ProviderType.anthropic: {"api_key"},
    ProviderType.openai_compatible: {"base_url"},
}
ALLOWED: dict[ProviderType, set[str]] = {
    ProviderType.openai: {"api_key", "base_url"},
    ProviderType.azure: {"api_key", "endpoint", "api_version"},
    ProviderType.anthropic: {"api_key", "base_url"},
    ProviderType.openai_compatible: {"api_key", "base_url"},
}
LAST4_MIN_LENGTH = 16
_KEYLIKE = re.compile(r"[A-Za-z0-9_\-*]{20,}")
DEFAULT_LOCK = "eneo.default_model"


# --- providers -------------------------------------------------------------------------------------


def _aad(provider: ModelProvider) -> bytes:
    return aad_for(provider.tenant_id, provider.id)


def _set_key(provider: ModelProvider, key: str | None) -> None:
    provider.credentials_encrypted = encrypt_secret(key, _aad(provider)) if key else None
    provider.api_key_last4 = key[-4:] if key and len(key) >= LAST4_MIN_LENGTH else None


def _api_key(provider: ModelProvider) -> str | None:
    """The decrypted key; a clear 409 (not a 500) when ENCRYPTION_KEY is no longer the one that stored it."""
    blob = provider.credentials_encrypted
    if blob is None:
        return None
    try:
        return decrypt_secret(blob, _aad(provider))
    except DecryptionError:
        raise Conflict(f"The API key of provider {provider.name!r} cannot be decrypted with this installation's "
                       "ENCRYPTION_KEY (was it changed?); an administrator must enter the key again",
                       code="provider_key_unreadable") from None


def provider_out(provider: ModelProvider) -> ProviderOut:
    cfg = provider.config or {}
    return ProviderOut(id=provider.id, name=provider.name, type=provider.type, base_url=cfg.get("base_url"),
                       endpoint=cfg.get("endpoint"), api_version=cfg.get("api_version"),
                       has_api_key=provider.credentials_encrypted is not None,
                       api_key_last4=provider.api_key_last4, managed=provider.managed,
                       local=provider.local, created_at=provider.created_at, updated_at=provider.updated_at)


def _check_local(kind: ProviderType, local: bool) -> None:
    """Only a server the organisation runs can be its own: OpenAI's, Azure's and Anthropic's are a third party's."""
    if local and kind != ProviderType.openai_compatible:
        raise invalid({"local": f"{kind.value} providers run at a third party; only openai_compatible ones "
                                "(a server of your own) can be local"})


def _check_fields(kind: ProviderType, present: set[str]) -> None:
    problems = {f: f"required for {kind.value} providers" for f in sorted(REQUIRED[kind] - present)}
    problems |= {f: f"not used by {kind.value} providers" for f in sorted(present - ALLOWED[kind])}
    if problems:
        raise invalid(problems)


async def _check_addresses(config: dict[str, str], fields: set[str]) -> None:
    """422 for an address among `fields` that the outbound rule refuses (eneo.core.outbound)."""
    problems = {f: f"{why}; this deployment connects only to public addresses, unless its administrator allows "
                   "the host" for f in sorted(fields & set(ADDRESS_FIELDS)) if config.get(f)
                and (why := await check_url(config[f])) is not None}
    if problems:
        raise invalid(problems)


def _name_taken() -> Conflict:
    return Conflict("A model provider with this name exists already", code="provider_name_taken")


async def _provider(uow: UnitOfWork, p: Principal, provider_id: uuid.UUID) -> ModelProvider:
    row = await uow.session.scalar(select(ModelProvider).where(
        ModelProvider.id == provider_id, ModelProvider.tenant_id == p.tenant_id))
    if row is None:
        raise NotFound("Model provider")
    return row


def _refuse_managed(provider: ModelProvider) -> None:
    if provider.managed:
        raise Conflict("This provider is managed by the deployment and cannot be changed here; "
                       "disable its models instead", code="managed_provider")


async def create_provider(uow: UnitOfWork, p: Principal, data: ProviderCreate) -> ProviderOut:
    values = data.model_dump(exclude_none=True, include=set(CONFIG_FIELDS))
    _check_fields(data.type, set(values) | ({"api_key"} if data.api_key else set()))
    await _check_addresses(values, set(values))
    _check_local(data.type, data.local)
    provider = ModelProvider(id=new_id(), tenant_id=p.tenant_id, name=data.name, type=data.type, config=values,
                             managed=False, local=data.local)
    _set_key(provider, data.api_key.get_secret_value() if data.api_key else None)
    uow.session.add(provider)
    await flush_or(uow, _name_taken())
    return provider_out(provider)


async def list_providers(uow: UnitOfWork, p: Principal, *, limit: int, cursor: str | None
                         ) -> tuple[list[ProviderOut], str | None]:
    rows, next_cursor = await paginate(uow.session, select(ModelProvider).where(
        ModelProvider.tenant_id == p.tenant_id), ModelProvider, limit=limit, cursor=cursor)
    return [provider_out(r) for r in rows], next_cursor


async def get_provider(uow: UnitOfWork, p: Principal, provider_id: uuid.UUID) -> ProviderOut:
    return provider_out(await _provider(uow, p, provider_id))


def _require_key_with_new_address(provider: ModelProvider, config: dict[str, str], changes: dict[str, object]) -> None:
    """A stored key follows no new address: whoever moves the provider must send the key (or null) with it."""
    moved = sorted(f for f in ADDRESS_FIELDS if config.get(f) != (provider.config or {}).get(f))
    if moved and provider.credentials_encrypted is not None and "api_key" not in changes:
        raise invalid({"api_key": f"required when {' or '.join(moved)} changes: the stored key is only ever "
                                   "sent to the address it was entered for (send the key again, or null)"})


async def update_provider(uow: UnitOfWork, p: Principal, provider_id: uuid.UUID, data: ProviderUpdate
                          ) -> ProviderOut:
    provider = await _provider(uow, p, provider_id)
    _refuse_managed(provider)
    changes = data.model_dump(exclude_unset=True)
    config = {**provider.config, **{k: v for k, v in changes.items() if k in CONFIG_FIELDS}}
    config = {k: v for k, v in config.items() if v is not None}
    new_key = data.api_key.get_secret_value() if data.api_key else None
    _require_key_with_new_address(provider, config, changes)
    has_key = new_key is not None if "api_key" in changes else provider.credentials_encrypted is not None
    _check_fields(provider.type, set(config) | ({"api_key"} if has_key else set()))
    await _check_addresses(config, set(changes))
    if data.local is not None:
        _check_local(provider.type, data.local)
        provider.local = data.local
    if data.name is not None:
        provider.name = data.name
    provider.config = config
    if "api_key" in changes:
        _set_key(provider, new_key)
    await flush_or(uow, _name_taken())
    return provider_out(provider)


async def delete_provider(uow: UnitOfWork, p: Principal, provider_id: uuid.UUID) -> None:
    provider = await _provider(uow, p, provider_id)
    _refuse_managed(provider)
    models = await uow.session.scalar(select(func.count()).select_from(CompletionModel).where(
        CompletionModel.provider_id == provider.id, CompletionModel.tenant_id == p.tenant_id))
    transcribers = await transcription_models_using(uow.session, p.tenant_id, provider.id)
    if models or transcribers:
        using = [f"{n} {kind} model(s)" for n, kind in ((models, "completion"), (transcribers, "transcription")) if n]
        raise Conflict(f"{' and '.join(using)} use this provider; delete them first", code="provider_in_use")
    await uow.session.delete(provider)
    await flush_or(uow, Conflict("This provider is still in use", code="provider_in_use"))


def provider_config(provider: ModelProvider) -> ProviderConfig:
    """What eneo.llm needs to call this provider, with the key decrypted."""
    cfg = provider.config or {}
    return ProviderConfig(type=cast(LlmProviderType, provider.type.value), api_key=_api_key(provider),
                          base_url=cfg.get("base_url"), endpoint=cfg.get("endpoint"),
                          api_version=cfg.get("api_version"), managed=provider.managed,
                          log_file=cfg.get("log_file") if provider.managed else None)


def _redact(message: str, key: str | None) -> str:
    """Provider messages sometimes quote the key they refused (masked or not): keep none of it."""
    if key:
        message = message.replace(key, "[redacted]")
    return _KEYLIKE.sub("[redacted]", message)


async def check_connection(uow: UnitOfWork, p: Principal, provider_id: uuid.UUID, model: str | None
                           ) -> ConnectionResult:
    provider = await _provider(uow, p, provider_id)
    config = provider_config(provider)
    await uow.commit()  # hold no connection while the provider thinks
    try:
        await test_connection(config, model)
    except ProviderError as exc:
        log.info("provider test failed", extra={"provider_id": str(provider_id), "code": exc.code})
        # The managed provider has no key, and its message names its log file, whose path may look key-like.
        message = exc.message if provider.managed else _redact(exc.message, config.api_key)
        return ConnectionResult(ok=False, code=exc.code, message=message, provider_status=exc.status)
    return ConnectionResult(ok=True)


# --- completion models -----------------------------------------------------------------------------


def model_out(model: CompletionModel, provider: ModelProvider) -> ModelOut:
    return ModelOut(id=model.id, provider_id=provider.id, provider_name=provider.name,
                    provider_type=provider.type, local=provider.local, name=model.name, display_name=model.display_name,
                    context_window=model.context_window, max_output_tokens=model.max_output_tokens,
                    enabled=model.enabled, is_default=model.is_default,
                    security_classification_id=model.security_classification_id,
                    allowed_group_ids=model.allowed_group_ids or [], created_at=model.created_at,
                    updated_at=model.updated_at)


def _model_taken() -> Conflict:
    return Conflict("This provider has a model with this name already", code="model_name_taken")


async def _model(uow: UnitOfWork, p: Principal, model_id: uuid.UUID) -> tuple[CompletionModel, ModelProvider]:
    return await find_provided_model(uow, p, CompletionModel, model_id, "Completion model")


def _check_limits(*, context_window: int, max_output_tokens: int | None, enabled: bool, is_default: bool) -> None:
    if max_output_tokens is not None and max_output_tokens > context_window:
        raise invalid({"max_output_tokens": "must not exceed context_window"})
    check_default(enabled=enabled, is_default=is_default)


async def create_model(uow: UnitOfWork, p: Principal, data: ModelCreate) -> ModelOut:
    provider = await tenant_provider(uow.session, p.tenant_id, data.provider_id)
    _check_limits(context_window=data.context_window, max_output_tokens=data.max_output_tokens,
                  enabled=data.enabled, is_default=data.is_default)
    model = CompletionModel(tenant_id=p.tenant_id, provider_id=provider.id, name=data.name,
                            display_name=data.display_name or data.name, context_window=data.context_window,
                            max_output_tokens=data.max_output_tokens, enabled=data.enabled, is_default=False)
    uow.session.add(model)
    await flush_or(uow, _model_taken())
    if data.is_default:
        await make_default(uow.session, model, DEFAULT_LOCK)
    await uow.session.flush()
    return model_out(model, provider)


async def list_models(uow: UnitOfWork, p: Principal, *, include_disabled: bool, limit: int, cursor: str | None
                      ) -> tuple[list[ModelOut], str | None]:
    models, providers, next_cursor = await page_of_models(uow, p, CompletionModel, include_disabled=include_disabled,
                                                          limit=limit, cursor=cursor)
    return [model_out(m, providers[m.provider_id]) for m in models], next_cursor


async def get_model(uow: UnitOfWork, p: Principal, model_id: uuid.UUID) -> ModelOut:
    return model_out(*await _model(uow, p, model_id))


async def update_model(uow: UnitOfWork, p: Principal, model_id: uuid.UUID, data: ModelUpdate) -> ModelUpdated:
    """Also answers the assistants a new security classification stopped (eneo.classifications)."""
    model, provider = await _model(uow, p, model_id)
    changes = data.model_dump(exclude_unset=True)
    stopped = Stopped()
    if "security_classification_id" in changes:
        level = await chosen_level(uow.session, p.tenant_id, data.security_classification_id)
        before = await blocked(uow.session, p.tenant_id)
        model.security_classification_id = level.id if level else None
        await uow.session.flush()
        stopped = newly_stopped(before, await blocked(uow.session, p.tenant_id))
    if "allowed_group_ids" in changes:
        model.allowed_group_ids = await chosen_groups(uow, p.tenant_id, data.allowed_group_ids)
    for name in ("name", "display_name", "context_window", "enabled"):
        if changes.get(name) is not None:
            setattr(model, name, changes[name])
    if "max_output_tokens" in changes:
        model.max_output_tokens = changes["max_output_tokens"]
    wants_default = changes.get("is_default")
    _check_limits(context_window=model.context_window, max_output_tokens=model.max_output_tokens,
                  enabled=model.enabled, is_default=bool(wants_default))
    promote = settle_default(model, wants_default)  # before the flush: a default is always enabled
    await flush_or(uow, _model_taken())
    if promote:
        await make_default(uow.session, model, DEFAULT_LOCK)
    await uow.session.flush()
    return ModelUpdated(**model_out(model, provider).model_dump(), **dict(stopped))


async def assistants_using(uow: UnitOfWork, model_id: uuid.UUID) -> int:
    return await uow.session.scalar(select(func.count()).select_from(Assistant).where(
        Assistant.completion_model_id == model_id, Assistant.tenant_id == uow.tenant_id)) or 0


async def delete_model(uow: UnitOfWork, p: Principal, model_id: uuid.UUID) -> None:
    model, _ = await _model(uow, p, model_id)
    if used := await assistants_using(uow, model.id):
        raise Conflict(f"{used} assistant(s) use this model; move them to another model first, "
                       "or disable the model instead", code="model_in_use")
    await uow.session.delete(model)
    await flush_or(uow, Conflict("This model is still referenced; disable it instead", code="model_in_use"))


# --- the deployment's own model server -------------------------------------------------------------


async def ensure_managed_provider(uow: UnitOfWork, *, name: str, base_url: str, model: str, display_name: str,
                                  context_window: int, log_file: str | None = None) -> None:
    """Register the deployment's own model server for the unit of work's tenant; safe on every start.

    Creates the managed openai_compatible provider (or updates its base_url and `log_file`, the server's
    log, which a question names while the server is down: eneo.llm.errors.for_caller) and registers `model`
    once: the names registered are kept in the provider's config (`managed_models`), so a model an
    admin deleted is not recreated, and one an admin disabled stays disabled (this never touches
    `enabled`). The model becomes the default only when it is first registered and the tenant has
    no default, so an admin's later choice of default is never undone either.
    """
    tenant_id = uow.tenant_id
    if tenant_id is None:
        raise RuntimeError("bind the unit of work to a tenant first")
    where = {"base_url": base_url} | ({"log_file": log_file} if log_file else {})
    provider = await uow.session.scalar(select(ModelProvider).where(
        ModelProvider.tenant_id == tenant_id, ModelProvider.managed))
    if provider is None:
        taken = await uow.session.scalar(select(func.count()).select_from(ModelProvider).where(
            ModelProvider.tenant_id == tenant_id, ModelProvider.name == name))
        provider = ModelProvider(id=new_id(), tenant_id=tenant_id, name=f"{name} (managed)" if taken else name,
                                 type=ProviderType.openai_compatible, config=where, managed=True, local=True)
        uow.session.add(provider)
        await uow.session.flush()
    elif any(provider.config.get(k) != v for k, v in where.items()):
        provider.config = {**provider.config, **where}
    registered = list(provider.config.get("managed_models", []))
    if model not in registered:
        row = await uow.session.scalar(select(CompletionModel).where(
            CompletionModel.provider_id == provider.id, CompletionModel.name == model))
        if row is None:
            row = CompletionModel(tenant_id=tenant_id, provider_id=provider.id, name=model,
                                  display_name=display_name, context_window=context_window, enabled=True,
                                  is_default=False)
            uow.session.add(row)
            await uow.session.flush()
            if await default_model(uow) is None:
                await make_default(uow.session, row, DEFAULT_LOCK)
        provider.config = {**provider.config, "managed_models": [*registered, model]}
    await uow.commit()  # each tenant in its own transaction: the caller may act_as another next
