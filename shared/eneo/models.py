"""Every table, imported in one place for migrations and tests."""

from eneo.api_keys.models import ApiKey
from eneo.assistants.models import Assistant, AssistantPrompt
from eneo.core.db import Base
from eneo.model_providers.models import CompletionModel, ModelProvider
from eneo.sessions.models import Question, Session
from eneo.spaces.models import Space, SpaceMember
from eneo.tenants.models import Tenant
from eneo.users.models import User

__all__ = [
    "ApiKey",
    "Assistant",
    "AssistantPrompt",
    "Base",
    "CompletionModel",
    "ModelProvider",
    "Question",
    "Session",
    "Space",
    "SpaceMember",
    "Tenant",
    "User",
]
