"""Every table, imported in one place for migrations and tests."""

from typing import Any

from eneo.api_keys.models import ApiKey
from eneo.assistants.models import Assistant, AssistantGroup, AssistantPrompt
from eneo.audit.models import AuditEntry
from eneo.auth.models import LoginSession
from eneo.classifications.models import SecurityClassification
from eneo.core.db import Base
from eneo.knowledge.models import HNSW_INDEX_PREFIX, Chunk, Group, InfoBlob
from eneo.model_providers.models import CompletionModel, EmbeddingModel, ModelProvider, TranscriptionModel
from eneo.permissions.models import Role, SpaceGroupMember, UserGroup, UserGroupMember
from eneo.privacy.models import RetentionPolicy
from eneo.sessions.models import IdempotencyKey, Question, Session
from eneo.spaces.models import Space, SpaceMember
from eneo.sso.models import SsoProvider
from eneo.tenants.models import Tenant
from eneo.usage.models import TenantQuota, TokenUsageDaily, TokenUsageMonthly
from eneo.users.models import User
from eneo.websites.models import CrawlRun, CrawlUrl, Website, WebsitePage

__all__ = [
    "ApiKey",
    "Assistant",
    "AssistantGroup",
    "AssistantPrompt",
    "AuditEntry",
    "Base",
    "Chunk",
    "CompletionModel",
    "CrawlRun",
    "CrawlUrl",
    "EmbeddingModel",
    "Group",
    "IdempotencyKey",
    "InfoBlob",
    "LoginSession",
    "ModelProvider",
    "Question",
    "RetentionPolicy",
    "Role",
    "SecurityClassification",
    "Session",
    "Space",
    "SpaceGroupMember",
    "SpaceMember",
    "SsoProvider",
    "Tenant",
    "TenantQuota",
    "TokenUsageDaily",
    "TokenUsageMonthly",
    "TranscriptionModel",
    "User",
    "UserGroup",
    "UserGroupMember",
    "Website",
    "WebsitePage",
    "include_name",
]


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """What migrations manage: not the per-embedding-model HNSW indexes, which the app creates at run time
    (`ensure_embedding_index`), so autogenerate must neither drop them nor report them."""
    return not (type_ == "index" and name is not None and name.startswith(HNSW_INDEX_PREFIX))
