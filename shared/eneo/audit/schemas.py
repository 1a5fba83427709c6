import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from eneo.audit.models import ActorType, Outcome


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    created_at: datetime
    action: str
    outcome: Outcome
    actor_type: ActorType
    actor_id: uuid.UUID | None
    actor_label: str | None
    api_key_id: uuid.UUID | None
    target_type: str | None
    target_id: uuid.UUID | None
    target_label: str | None
    source_ip: str | None
    request_id: str | None
    details: dict[str, Any]
