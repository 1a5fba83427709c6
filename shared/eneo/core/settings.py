"""Settings read from the environment, once per warm function instance."""

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob a function reads. Names are the environment variables, upper-cased."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    # Connections. DATABASE_URL is the application role (RLS applies to it); migrations use
    # DATABASE_MIGRATION_URL, a role that owns the tables.
    database_url: str = "postgresql+psycopg://eneo_app@localhost:5432/eneo"
    database_migration_url: str | None = None
    db_pool_size: int = Field(2, ge=1, description="A function instance serves one request at a time.")
    db_max_overflow: int = Field(2, ge=0)
    db_pool: Literal["queue", "null"] = Field(
        "queue", description="'null' opens a connection per transaction and closes it after: for functions that "
                             "wait minutes between transactions (complete, ws), so idle instances hold none.")
    db_statement_timeout_ms: int = Field(15_000, ge=100)
    redis_url: str = "redis://localhost:6379/0"
    s3_endpoint_url: str | None = None
    sqs_endpoint_url: str | None = Field(None, description="SQS endpoint; default: S3_ENDPOINT_URL when set "
                                                          "(moto serves both), else AWS.")
    aws_region: str = "eu-north-1"

    # Secrets.
    jwt_secret: SecretStr = SecretStr("")
    super_api_key: SecretStr = SecretStr("")
    api_key_pepper: SecretStr = SecretStr("")
    # Encrypts model providers' credentials at rest (eneo.core.crypto).
    encryption_key: SecretStr = SecretStr("")

    # Auth policy.
    # A fraction of a minute is allowed (0.25: 15 s) so a test can watch a session outlive its access token
    # in seconds; 6 s at least, so a token outlives the request that fetched it.
    jwt_expiry_minutes: float = Field(15, ge=0.1, description="Access tokens' lifetime; a refresh token renews them.")
    jwt_algorithm: str = "HS256"
    session_idle_minutes: int = Field(30, ge=1, description="A login session ends when not refreshed for this long.")
    session_max_hours: int = Field(12, ge=1, description="A login session ends this long after the login, used or not.")
    refresh_reuse_grace_seconds: int = Field(
        10, ge=0, description="A refresh token replaced this recently still gets an access token (two tabs refreshing "
                              "at once); older reuse ends the session.")
    # Failed logins (eneo.users.throttle): per account from one address, per address, per account from all.
    login_max_attempts_per_account: int = Field(10, ge=1)
    login_max_attempts_per_ip: int = Field(50, ge=1)
    login_window_seconds: int = Field(15 * 60, ge=1)
    login_max_attempts_per_account_all_addresses: int = Field(100, ge=1)
    login_account_window_seconds: int = Field(60 * 60, ge=1)
    login_known_address_days: int = Field(30, ge=1)
    password_change_max_attempts: int = Field(5, ge=1, description="Wrong current passwords per user and window.")
    invite_expiry_hours: int = Field(72, ge=1)
    # Requests per minute (eneo.auth.rate_limits); 0: no limit.
    rate_limit_user_per_minute: int = Field(1200, ge=0, description="Requests a user makes per minute, with "
                                            "any credential (429 + Retry-After beyond).")
    rate_limit_api_key_per_minute: int = Field(600, ge=0, description="Requests per minute through one API key.")

    # Answers: where they stream, how long a stream stays resumable, how providers are called.
    complete_function_name: str = Field("", description="The function that streams answers (async invoke).")
    answer_stream_ttl_seconds: int = Field(3600, ge=600, description="Longer than any answer streams (text "
                                                                 "entries do not renew it).")
    answer_stream_batch_ms: int = Field(
        0, ge=0, description="0: a text delta is written at once when its stream is idle, and deltas that arrive "
                             "while it is busy writing go together in the next (eneo.answers.batching); N > 0: at "
                             "most one text entry every N ms, fewer writes for up to N ms more per token.")
    answer_reserve_tokens: int = Field(1024, ge=16, description="Room kept for the answer when max_tokens is unset.")
    question_max_chars: int = Field(20_000, ge=1)
    answer_abandon_seconds: int = Field(
        360, ge=330, description="A question still unanswered this long after it was saved or claimed is marked "
                                "failed (answer_lost); keep it above the complete function's timeout.")
    provider_max_attempts: int = Field(3, ge=1, description="Tries before the first token (429, 5xx, network).")
    provider_idle_timeout_seconds: float = Field(60.0, gt=0, description="Longest silence within a stream.")
    websocket_management_url: str = ""
    ws_function_name: str = Field("", description="The ws function, which writers of a stream invoke to wake the "
                                                  "relays parked on it (eneo.core.parking); empty: relays "
                                                  "wait in their invocation instead of parking.")
    websocket_max_connections_per_user: int = Field(10, ge=1, description="Open WebSocket connections per user; "
                                                    "$connect answers 429 beyond it.")
    websocket_max_subscriptions_per_user: int = Field(15, ge=1, description="Subscriptions (an answer, status "
                                                      "events) across a user's connections; refused beyond it.")
    outbound_allowed_hosts: str = Field(
        "", description="Hosts a provider's base_url may name although they are loopback, private or link-local "
                        "(eneo.core.outbound): comma-separated names, addresses or CIDR networks, e.g. "
                        "'vllm.internal,10.0.0.0/8'.")
    sse_wait_seconds: float = Field(20.0, gt=0, description="How long one SSE poll waits for the first entry.")
    sse_linger_ms: int = Field(500, ge=0, description="How long one SSE poll keeps collecting after data came.")

    # Knowledge: where documents live, how they are ingested, embedded and searched.
    documents_bucket: str = Field("", description="The bucket uploads go to (template: DocumentsBucket).")
    ingest_queue_url: str = Field("", description="S3 ObjectCreated events (and retries) for `ingest`.")
    embed_queue_url: str = Field("", description="Embedding work that `ingest` sends to `embed`.")
    upload_max_bytes: int = Field(50 * 1024 * 1024, ge=1, description="Largest document accepted (413 above).")
    audio_max_bytes: int = Field(25 * 1024 * 1024, ge=1, description="Largest audio file (transcription APIs cap "
                                                                      "at 25 MB).")
    upload_url_expiry_seconds: int = Field(900, ge=60, le=7 * 24 * 3600)
    ingest_stale_seconds: int = Field(3600, ge=60, description="A document in flight with no change for this "
                                      "long is re-queued by the scheduled sweep (users may retry at any time). "
                                      "Must exceed the queues' visibility timeout x ingest_max_attempts (template: "
                                      "900 s x 3), or a re-queue may race a delivery still to come (harmless, but "
                                      "wasted work).")
    chunk_size_tokens: int = Field(200, ge=16, description="Chunk length; all-MiniLM-L6-v2 reads 256 tokens at most.")
    chunk_overlap_tokens: int = Field(40, ge=0)
    extract_max_pages: int = Field(2000, ge=1, description="Longer documents fail with a reason, not a timeout.")
    extract_max_chars: int = Field(5_000_000, ge=1000)
    extract_max_unpacked_bytes: int = Field(200 * 1024 * 1024, ge=1024, description="Zip bombs stop here.")
    extract_timeout_seconds: float = Field(60.0, gt=0)
    ocr_languages: str = Field("swe+eng", pattern=r"^[a-z_]+(\+[a-z_]+)*$", description="Tesseract's language "
                               "models for scanned pages and images, joined by +; each needs its traineddata "
                               "(Debian: tesseract-ocr-swe, tesseract-ocr-eng).")
    ocr_dpi: int = Field(300, ge=72, le=600, description="Resolution a PDF page without text is rendered at for OCR.")
    ocr_max_pixels: int = Field(40_000_000, ge=1_000_000, description="Larger images are refused "
                                "(image_too_large); an A4 page at 600 dpi is 35 million.")
    ingest_max_attempts: int = Field(3, ge=1, description="Deliveries before a message goes to the dead-letter "
                                                          "queue; equal to the queue's maxReceiveCount.")
    embed_batch_size: int = Field(32, ge=1)
    local_embedder_threads: int = Field(1, ge=0, description="BLAS threads of the local embedder; 0 keeps numpy's "
                                        "default (every core). One is the safe choice where cores are shared or "
                                        "throttled: a second thread that waits for a busy core makes it 5-10x slower.")
    local_embedder_int8: bool = Field(True, description="Run all-MiniLM-L6-v2's encoder layers as int8 in ONNX "
                                      "Runtime (1.6-3.5x the chunks/s of float32 numpy, dense R@5 within a point: "
                                      "bench/embedder_quality.py); false: float32 numpy.")
    search_default_limit: int = Field(10, ge=1, le=100)
    events_stream_ttl_seconds: int = Field(24 * 3600, ge=60, description="How long a user's status events stay "
                                                                          "readable.")

    # Paging.
    # Websites (eneo.websites, eneo.crawler): where crawls are queued and how politely they fetch.
    crawl_queue_url: str = Field("", description="Crawl runs for `crawl` (template: CrawlQueue).")
    crawl_max_concurrent_per_tenant: int = Field(2, ge=1, description="Runs the scheduler lets run at once per "
                                                 "tenant; more due websites wait for its next pass.")
    crawl_delay_seconds: float = Field(1.0, ge=0, description="Pause between two requests to one host, unless "
                                       "robots.txt asks for a longer Crawl-delay.")
    crawl_timeout_seconds: float = Field(15.0, gt=0, description="Longest one page's request may take.")
    crawl_max_redirects: int = Field(5, ge=0)
    crawl_page_max_bytes: int = Field(5 * 1024 * 1024, ge=1024, description="A bigger page fails (`too_large`).")
    crawl_budget_margin_seconds: float = Field(20.0, ge=1, description="A crawl invocation checkpoints and re-queues "
                                               "itself this long before its time runs out.")
    crawl_user_agent: str = "EneoCrawler/1.0 (+https://eneo.ai)"

    page_size_default: int = Field(50, ge=1)
    page_size_max: int = Field(200, ge=1)

    log_level: str = "INFO"
    hsts_max_age_seconds: int = Field(365 * 24 * 3600, ge=0, description="Strict-Transport-Security on answers to "
                                      "https requests (0: none). The local stack serves http and gets none.")

    def require_secrets(self) -> None:
        """Refuse to serve with secrets that are missing or too short to be safe."""
        for name in ("jwt_secret", "super_api_key", "encryption_key"):
            value = getattr(self, name).get_secret_value()
            if len(value) < 32:
                raise RuntimeError(f"{name.upper()} must be set to at least 32 characters")

    @property
    def pepper(self) -> bytes:
        """Key for hashing API keys; falls back to the JWT secret so one secret suffices locally."""
        return (self.api_key_pepper.get_secret_value() or self.jwt_secret.get_secret_value()).encode()


@lru_cache
def get_settings() -> Settings:
    return Settings()
