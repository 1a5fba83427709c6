import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from eneo.core.db import Base, Entity


class LoginSession(Entity, Base):
    """One login: its access tokens carry its id (`sid`), its refresh token renews them (eneo.auth.sessions).

    Ending it (logout, reuse of a replaced refresh token, a password change) stops its access tokens at
    once, because every request checks the session.
    """

    __tablename__ = "login_sessions"

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    refresh_hash: Mapped[str] = mapped_column(String(64))  # keyed hash of the current refresh token
    previous_hash: Mapped[str | None] = mapped_column(String(64))  # the one it replaced (a short grace)
    rotated_at: Mapped[datetime]
    idle_expires_at: Mapped[datetime]  # not refreshed by then: over
    expires_at: Mapped[datetime]  # over then, used or not
    ended_at: Mapped[datetime | None]
