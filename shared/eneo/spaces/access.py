"""The effective space role of every user: the highest of a direct membership and the user's groups'.

`space_access` is a view (infra/migrations 0022), mapped on a metadata of its own so that schema
comparisons, which see tables only, do not take it for a missing table. Read access through it; write
memberships to `space_members` and `space_group_members`.
"""

import uuid

from sqlalchemy import Enum
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from eneo.spaces.models import SpaceRole


class _Views(DeclarativeBase):
    """Metadata for views only: `create_all` and the migration/model comparison never see them as tables."""


class SpaceAccess(_Views):
    __tablename__ = "space_access"

    space_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    tenant_id: Mapped[uuid.UUID]
    role: Mapped[SpaceRole] = mapped_column(
        Enum(SpaceRole, name="space_role", values_callable=lambda e: [m.value for m in e], create_type=False))
