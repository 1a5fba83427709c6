"""What an answer does with personal data (eneo.personal_data.masking) before it reaches the provider.

"Local" is a property of the model's provider (`model_providers.local`): the deployment's own model server
(managed) always is, and a tenant admin may mark an openai_compatible provider of the organisation's own
(vLLM, Ollama) as local. Everything else (OpenAI, Azure OpenAI, Anthropic, any other server) is external.

* A local model gets the question as it is: nothing leaves the organisation.
* An external model gets it masked when the organisation protects personal data (`tenants.
  protect_personal_data`) or the assistant asks for it (`assistants.personal_data = mask`), and the answer's
  placeholders are restored before anyone reads it.
* An assistant set to `local_model` sends a question whose question, history or retrieved passages hold
  personal data to the organisation's local model (eneo.model_providers.clients.local_chat_target) instead,
  unmasked; without personal data, it goes to the assistant's own model. An organisation without an enabled
  local model gets the question masked at the external one: never sent as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from eneo.assistants.models import Assistant, PersonalData
from eneo.core.db import UnitOfWork
from eneo.model_providers.clients import ChatTarget, local_chat_target
from eneo.tenants.models import Tenant


@dataclass(frozen=True)
class Protection:
    mask: bool = False  # mask what goes to the external model
    local: ChatTarget | None = None  # route a question holding personal data here instead


NONE = Protection()


def needed(target_is_local: bool, policy: PersonalData, tenant_protects: bool) -> PersonalData | None:
    """What to do for an assistant's question: None (send as is), `mask`, or `local_model`."""
    if target_is_local:
        return None
    if policy == PersonalData.local_model:
        return PersonalData.local_model
    if policy == PersonalData.mask or tenant_protects:
        return PersonalData.mask
    return None


async def embeddings_masked(uow: UnitOfWork, assistant: Assistant) -> bool:
    """Whether the question's embedding, for the assistant's collections, is masked at an external embedding
    model (eneo.model_providers.personal_data): whatever model answers, when the assistant or the
    organisation opted in (`local_model` too: an embedding cannot be routed elsewhere)."""
    if assistant.personal_data in (PersonalData.mask, PersonalData.local_model):
        return True
    return bool(await uow.session.scalar(
        select(Tenant.protect_personal_data).where(Tenant.id == assistant.tenant_id)))


async def protection_for(uow: UnitOfWork, target: ChatTarget, assistant: Assistant) -> Protection:
    """The protection for a question to `assistant` answered by `target`, read in the claiming transaction."""
    if target.local:
        return NONE  # no query: the common case of the bundled model costs nothing
    tenant_protects = bool(await uow.session.scalar(
        select(Tenant.protect_personal_data).where(Tenant.id == assistant.tenant_id)))
    match needed(target.local, assistant.personal_data, tenant_protects):
        case PersonalData.local_model:
            local = await local_chat_target(uow)
            return Protection(mask=True, local=local if local is not None and local.enabled else None)
        case PersonalData.mask:
            return Protection(mask=True)
        case _:
            return NONE
