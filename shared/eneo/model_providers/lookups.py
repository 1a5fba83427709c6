"""Model look-ups other domains need, without the provider SDK layer (keeps their cold start small)."""

import uuid

from sqlalchemy import select

from eneo.core.db import UnitOfWork
from eneo.model_providers.models import CompletionModel


async def default_model(uow: UnitOfWork) -> CompletionModel | None:
    return await uow.session.scalar(select(CompletionModel).where(
        CompletionModel.tenant_id == uow.tenant_id, CompletionModel.is_default, CompletionModel.enabled))


async def usable_model(uow: UnitOfWork, model_id: uuid.UUID) -> CompletionModel | None:
    """An enabled model of the unit of work's tenant, or None."""
    return await uow.session.scalar(select(CompletionModel).where(
        CompletionModel.id == model_id, CompletionModel.tenant_id == uow.tenant_id, CompletionModel.enabled))
