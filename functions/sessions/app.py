"""Sessions function: sessions, questions, feedback, and answers as Server-Sent Events."""

from mangum import Mangum

from eneo.core.health import database_check, redis_check
from eneo.core.http import create_app
from eneo.sessions.api import questions, sessions

app = create_app("sessions", [sessions, questions], {"database": database_check, "redis": redis_check})
handler = Mangum(app, lifespan="off")
