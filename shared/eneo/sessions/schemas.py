import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from eneo.assistants.schemas import AssistantDraft
from eneo.core.text import Text
from eneo.sessions.models import QuestionStatus


class Ask(BaseModel):
    """A question for the assistant; `stream: true` answers through the answer stream instead of here."""

    model_config = ConfigDict(extra="forbid")
    question: Text = Field(min_length=1)
    stream: bool = False
    draft: AssistantDraft | None = Field(None, description="Answer as these unsaved settings would (the "
                                         "assistant's editors only; its test pane); what is left out is as saved")


class ErrorInfo(BaseModel):
    code: str
    message: str


class UsageOut(BaseModel):
    input_tokens: int
    output_tokens: int


class FeedbackOut(BaseModel):
    value: Literal[1, -1]
    text: str | None = None


class ReferenceOut(BaseModel):
    """A source the answer was given; the answer cites it as [n]."""

    id: uuid.UUID = Field(description="The document (info blob)")
    title: str
    chunk_index: int
    page: int | None = None
    score: float
    n: int = Field(description="Its number in the answer's citations")
    url: str | None = Field(None, description="The page's address, for a website's page (null for uploads)")


class QuestionOut(BaseModel):
    id: uuid.UUID
    session_id: uuid.UUID
    question: str
    answer: str
    status: QuestionStatus
    partial: bool = Field(description="The answer failed part-way; `answer` holds the part that arrived.")
    error: ErrorInfo | None = None
    model: str
    usage: UsageOut | None = None
    feedback: FeedbackOut | None = None
    references: list[ReferenceOut] = Field(default_factory=list, description="The sources it was answered from")
    draft: bool = Field(False, description="Asked with an editor's unsaved settings (`draft`), not the saved ones")
    created_at: datetime
    completed_at: datetime | None = None


class SubscribeMessage(BaseModel):
    """What to send on the WebSocket to follow this answer (add `last_id` to resume)."""

    action: Literal["subscribe"] = "subscribe"
    question_id: uuid.UUID


class StreamInfo(BaseModel):
    sse: str = Field(description="Server-Sent Events of the answer (Last-Event-ID resumes).")
    websocket: SubscribeMessage


class Asked(BaseModel):
    session_id: uuid.UUID
    question: QuestionOut
    stream: StreamInfo | None = None


class SessionOut(BaseModel):
    id: uuid.UUID
    assistant_id: uuid.UUID
    name: str
    created_at: datetime
    updated_at: datetime


class SessionDetail(SessionOut):
    questions: list[QuestionOut]


class Feedback(BaseModel):
    """`value: null` withdraws earlier feedback."""

    model_config = ConfigDict(extra="forbid")
    question_id: uuid.UUID
    value: Literal[1, -1] | None
    text: Text | None = Field(None, max_length=5000)
