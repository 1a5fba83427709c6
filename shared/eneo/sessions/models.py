import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from eneo.core.db import Base, Entity


class QuestionStatus(enum.StrEnum):
    queued = "queued"  # saved; the answer has not started
    streaming = "streaming"  # `complete` claimed it and is writing the answer stream
    completed = "completed"
    failed = "failed"  # `error_code` says why; `answer` keeps what arrived before the failure
    cancelled = "cancelled"  # the asker stopped it (`answer_cancelled`); `answer` keeps what streamed until then


class Session(Entity, Base):
    """A conversation of one user with one assistant; only that user sees it."""

    __tablename__ = "sessions"
    __table_args__ = (Index("ix_sessions_assistant_user_created", "assistant_id", "user_id", "created_at"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    assistant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assistants.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))


class Question(Entity, Base):
    """One question and its answer; the unit `complete` works on and streams."""

    __tablename__ = "questions"
    __table_args__ = (
        Index("ix_questions_session_created", "session_id", "created_at"),
        Index("ix_questions_assistant_created", "assistant_id", "created_at"),  # retention's batches
        CheckConstraint("feedback IN (-1, 1)", name="feedback_is_a_vote"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    assistant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assistants.id", ondelete="CASCADE"), index=True)
    # The model that answers; kept (by name too) even if the model is deleted later.
    completion_model_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("completion_models.id", ondelete="SET NULL"), index=True)
    model_name: Mapped[str] = mapped_column(String(200), default="")
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[QuestionStatus] = mapped_column(
        Enum(QuestionStatus, name="question_status", values_callable=lambda e: [m.value for m in e]),
        default=QuestionStatus.queued)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(String(500))
    input_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    feedback: Mapped[int | None] = mapped_column(SmallInteger)  # +1 helpful, -1 not helpful
    feedback_text: Mapped[str | None] = mapped_column(Text)
    completed_at: Mapped[datetime | None] = mapped_column()
    # The chunks the answer was given (document id, title, chunk, score), as sent in `first_chunk`.
    references: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list, server_default=text("'[]'::jsonb"))
    # Asked with an editor's unsaved settings (eneo.assistants.service.draft_assistant): the ones it set, applied
    # to the saved assistant when the answer is made; None for a question to the assistant as saved.
    draft: Mapped[dict[str, Any] | None] = mapped_column(JSONB)

    @property
    def partial(self) -> bool:
        """A failed or stopped answer that still holds the text that arrived before it ended."""
        return self.status in (QuestionStatus.failed, QuestionStatus.cancelled) and bool(self.answer)


class IdempotencyKey(Entity, Base):
    """An `Idempotency-Key` sent with an ask, and the question it made: a retry with the same key and
    request gets that question back instead of a second one (eneo.sessions.idempotency)."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    question_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))  # what was asked, where: the same key must ask the same
    expires_at: Mapped[datetime] = mapped_column()
