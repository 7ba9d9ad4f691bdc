"""Settings: one pydantic-settings object, built at the edges (CLI callback, ``create_app``) and passed down.

Every field can be set from the environment with the ``POLLINATE_`` prefix and ``__`` between a section and
its field: ``POLLINATE_DATA_DIR=/srv/pollinate``, ``POLLINATE_DATABASE__URL=postgresql+psycopg://...``,
``POLLINATE_API__PORT=9000``. ``Settings.table()`` lists them all (the README's settings table is generated
from it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from models.db import Database, sqlite_url

if TYPE_CHECKING:
    from matcher.engine.index import PlannerConfig


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("pollinate", appauthor=False))


class DatabaseSettings(BaseModel):
    """Where the records live."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default: a SQLite file `pollinate.db` in the data directory.",
    )
    echo: bool = Field(default=False, description="Log every SQL statement.")
    busy_timeout_s: float = Field(
        default=30.0, gt=0, description="SQLite: how long a writer waits for the write lock."
    )


class EmbeddingSettings(BaseModel):
    """The sentence-embedding model."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        default="all-MiniLM-L6-v2",
        description="`all-MiniLM-L6-v2` (the packaged copy, loaded offline), any sentence-transformers model "
        "name or local path already on disk, or `hashing` (no model: word hashing, for tests and smoke runs).",
    )
    batch_size: int = Field(default=32, ge=1, le=1024, description="Texts (or chunks) per forward pass at most.")
    batch_tokens: int | None = Field(
        default=1024,
        ge=1,
        le=1_000_000,
        description="Padded word pieces per forward pass at most (texts batched longest first; unset: "
        "`batch_size` alone). Measured on one thread in docs/embeddings.md.",
    )
    long_text: Literal["chunk", "truncate"] = Field(
        default="chunk", description="Texts longer than the model window: `chunk` and pool, or `truncate`."
    )
    threads: int | None = Field(
        default=None,
        ge=1,
        description="torch threads per process (default: torch's); ONNX Runtime threads per session (default 1).",
    )
    micro_batch_wait_ms: float = Field(
        default=2.0,
        ge=0,
        le=100,
        description="API: how long a request's texts wait for concurrent ones to share a model call (0: off).",
    )
    max_queue: int = Field(
        default=64, ge=1, le=10_000, description="API: requests waiting for the model beyond which it answers 503."
    )
    multilingual: Literal["use-m3", "none"] = Field(
        default="use-m3",
        description="A multilingual encoder beside `model`, fused with it (docs/embeddings.md): `use-m3` "
        "(Universal Sentence Encoder multilingual v3, packaged) or `none` (the English model alone).",
    )
    english_encoder: Literal["transformer", "static"] = Field(
        default="transformer",
        description="How `model` runs as the first (English) encoder: `transformer` (the network itself, on "
        "`backend`) or `static` (a Model2Vec static copy distilled from it into the cache on first use, about "
        "50 s; faster, lower quality: docs/embeddings.md).",
    )
    backend: Literal["auto", "torch", "torch-bf16", "onnx-fp32", "onnx-int8"] = Field(
        default="auto",
        description="`torch`, `torch-bf16` (fp32 where the CPU lacks native bf16), `onnx-fp32`, `onnx-int8` "
        "(exported on first use), or `auto`: int8 if its recorded quality gate passed, else torch-bf16 on a CPU "
        "with native bf16 unless a recorded gate failed it, else fp32 ONNX if its gate passed, else torch "
        "(`pollinate embed gate` records the gate).",
    )


class IndexSettings(BaseModel):
    """The vector index over offers."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["auto", "flat", "hnsw", "exact"] = Field(
        default="auto",
        description="`auto`: exact search for small or selective searches, an HNSW graph above (the planner); "
        "`flat`: FAISS exact search only; `hnsw`: the graph for every search (benchmark comparison); `exact`: "
        "NumPy.",
    )
    compact_ratio: float = Field(
        default=0.2, gt=0, lt=1, description="Compact the index when this share of positions is deleted."
    )
    exact_max: int = Field(
        default=10_000, ge=0, description="`auto`: searches allowing at most this many offers are exact."
    )
    flat_max: int = Field(
        default=200_000, ge=0, description="`auto`: unfiltered searches stay exact below this many offers."
    )
    hnsw_m: int = Field(default=32, ge=4, le=128, description="HNSW links per node (M).")
    ef_construction: int = Field(default=40, ge=8, le=1_024, description="HNSW build breadth (efConstruction).")
    ef_search: int = Field(
        default=128, ge=8, le=8_192, description="HNSW efSearch of an unfiltered search; filters scale it up."
    )
    ef_max: int = Field(default=2_048, ge=8, le=65_536, description="Upper bound of the scaled efSearch.")
    rebuild_ratio: float = Field(
        default=0.1,
        gt=0,
        lt=1,
        description="Rebuild the HNSW graph (in the background) when offers added or deleted since its build "
        "exceed this share of it.",
    )
    build_threads: int = Field(
        default=0, ge=0, le=256, description="Threads of an HNSW graph build (0: every core)."
    )

    def planner(self) -> PlannerConfig:
        """The index planner's configuration."""
        from matcher.engine.index import PlannerConfig  # here: settings are read by commands that never load FAISS

        return PlannerConfig(
            exact_max=self.exact_max,
            flat_max=self.flat_max,
            m=self.hnsw_m,
            ef_construction=self.ef_construction,
            ef_search=self.ef_search,
            ef_max=self.ef_max,
            rebuild_ratio=self.rebuild_ratio,
            build_threads=self.build_threads,
        )


class RankingSettings(BaseModel):
    """How providers are scored. score = sum of weight x signal; each weighted term is reported.

    The weight fields' defaults are the only place the default weights are written:
    ``matcher.engine.fusion.Weights`` takes its defaults from them.
    """

    model_config = ConfigDict(extra="forbid")

    semantic: float = Field(default=1.0, ge=0, description="Weight of the embedding similarity.")
    lexical: float = Field(default=0.03, ge=0, description="Weight of BM25 (normalised to the best offer).")
    targets: float = Field(default=0.3, ge=0, description="Weight of KMGBF target overlap.")
    geography: float = Field(default=0.2, ge=0, description="Weight of geographic fit.")
    language: float = Field(
        default=0.0,
        ge=0,
        description="Weight of language fit (the provider works in the need's language; 0: the language is a "
        "preference set with the `languages` filter, see docs/evaluation.md).",
    )
    assistance: float = Field(default=0.03, ge=0, description="Weight of assistance-type fit.")
    penalty: float = Field(
        default=0.3,
        ge=0,
        description="Score removed per down-weighted eligibility problem and for a keyword-stuffed text.",
    )
    inactive: Literal["exclude", "downweight"] = Field(
        default="exclude", description="Paused or expired offers: `exclude` or `downweight`."
    )
    at_capacity: Literal["exclude", "downweight"] = Field(
        default="exclude", description="Offers with no capacity left: `exclude` or `downweight`."
    )
    language_centering: float = Field(
        default=0.8, ge=0, le=1.5, description="Share of each language's mean vector removed (0 disables)."
    )
    multilingual_english: float = Field(
        default=0.4,
        ge=0,
        le=1,
        description="Share of the multilingual encoder in the semantic similarity for English needs (the rest is "
        "the English model's; ignored without `embedding.multilingual`).",
    )
    multilingual_other: float = Field(
        default=0.8,
        ge=0,
        le=1,
        description="Share of the multilingual encoder in the semantic similarity for needs in other languages.",
    )
    candidates: int = Field(
        default=200, ge=10, le=100_000, description="Offers retrieved by similarity before exact re-scoring."
    )
    feedback_depth: int = Field(
        default=3, ge=0, le=20, description="Top offers whose mean vector expands the query (0 disables)."
    )
    feedback_weight: float = Field(default=0.5, ge=0, le=2, description="Weight of that feedback vector.")
    evidence_sentences: int = Field(default=2, ge=0, le=5, description="Offer sentences quoted as evidence.")


class ApiSettings(BaseModel):
    """The HTTP service."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(default="127.0.0.1", description="Interface `pollinate serve` binds to.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port `pollinate serve` listens on.")
    trusted_proxies: Annotated[list[IPvAnyNetwork], NoDecode] = Field(
        default=[],
        description="Reverse proxies (IPs or CIDRs, JSON list or comma-separated) whose `X-Forwarded-For` gives "
        "the client address; empty: the header is ignored and the connecting address counts.",
    )
    write_rate: str = Field(
        default="120/minute",
        pattern=r"^\d+\s*(/|per)\s*\d*\s*(second|minute|hour|day)s?$",
        description="Writes (POST, PATCH, DELETE) allowed per API key and worker, e.g. `120/minute`.",
    )
    match_rate: str = Field(
        default="60/minute",
        pattern=r"^\d+\s*(/|per)\s*\d*\s*(second|minute|hour|day)s?$",
        description="Matching requests (posting a need, re-ranking, ad-hoc matching) per API key and worker.",
    )
    anonymous_rate: str = Field(
        default="300/minute",
        pattern=r"^\d+\s*(/|per)\s*\d*\s*(second|minute|hour|day)s?$",
        description="Requests without an API key per client address and worker.",
    )
    sign_in_account_rate: str = Field(
        default="5/15minutes",
        pattern=r"^\d+\s*(/|per)\s*\d*\s*(second|minute|hour|day)s?$",
        description="Failed sign-ins allowed per e-mail address and worker; beyond it, that address is refused "
        "until the window moves on (counted alike for addresses with and without an account).",
    )
    sign_in_client_rate: str = Field(
        default="20/15minutes",
        pattern=r"^\d+\s*(/|per)\s*\d*\s*(second|minute|hour|day)s?$",
        description="Failed sign-ins allowed per client address and worker (any e-mail address).",
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, le=64 * 1_048_576, description="Largest request body accepted (413 beyond)."
    )
    idempotency_hours: int = Field(
        default=24, ge=1, le=24 * 30, description="How long an `Idempotency-Key` replays its first response."
    )
    log_format: Literal["json", "console"] = Field(
        default="json", description="Request logs: one JSON object per line, or human-readable."
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        """A JSON list, or ``10.0.0.1,10.0.0.0/8`` as uvicorn's own ``FORWARDED_ALLOW_IPS`` is written."""
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


class SmtpSettings(BaseModel):
    """The mail server e-mail alerts and digests are sent through."""

    model_config = ConfigDict(extra="forbid")

    host: str | None = Field(default=None, description="SMTP server; unset: e-mail channels are refused.")
    port: int = Field(default=587, ge=1, le=65535, description="SMTP port.")
    username: str | None = Field(default=None, description="SMTP login (none: no authentication).")
    password: SecretStr | None = Field(default=None, description="SMTP password (never logged).")
    security: Literal["starttls", "ssl", "none"] = Field(
        default="starttls", description="`starttls` (port 587), `ssl` (implicit TLS, port 465) or `none`."
    )
    sender: str = Field(default="Pollinate <alerts@pollinate.invalid>", description="From address.")
    timeout_s: float = Field(default=20.0, gt=0, le=300, description="Connect and command timeout.")


class NotificationSettings(BaseModel):
    """Provider alerts: the outbox, the delivery worker, webhooks and e-mail."""

    model_config = ConfigDict(extra="forbid")

    public_url: str = Field(
        default="http://127.0.0.1:8000",
        max_length=500,
        description="Base URL of the API as providers reach it (links in e-mails, unsubscribe).",
    )
    webhook_allow_http: bool = Field(
        default=False, description="Accept `http://` webhook targets (production: keep `false`, https only)."
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="Accept webhook targets on loopback, private or link-local addresses (tests only).",
    )
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=60, description="Webhook request timeout.")
    max_attempts: int = Field(
        default=8, ge=1, le=50, description="Delivery attempts before a delivery is dead-lettered."
    )
    backoff_base_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="First retry delay; doubles per attempt up to the longest, each drawn between half and all "
        "of it.",
    )
    backoff_max_s: float = Field(default=6 * 3600.0, gt=0, description="Longest retry delay.")
    lease_s: float = Field(
        default=120.0,
        gt=0,
        le=3600,
        description="A claimed delivery is retried by another worker if not finished within this time.",
    )
    poll_s: float = Field(default=2.0, gt=0, le=300, description="How often the worker looks for due deliveries.")
    batch_size: int = Field(default=50, ge=1, le=1000, description="Deliveries claimed per worker round.")
    instant_per_hour: int = Field(
        default=20,
        ge=1,
        le=10_000,
        description="Instant alerts per subscription and hour; beyond it, alerts wait for the next hour, "
        "sent together as one digest.",
    )
    digest_hour: int = Field(default=7, ge=0, le=23, description="Hour (UTC) daily and weekly digests go out.")
    digest_weekday: int = Field(default=0, ge=0, le=6, description="Weekly digests' day (0 = Monday).")
    max_subscriptions: int = Field(
        default=50, ge=1, le=10_000, description="Subscriptions an organisation may hold."
    )
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)


class JobSettings(BaseModel):
    """Batch jobs (re-ranking, re-embedding) run by ``pollinate worker``."""

    model_config = ConfigDict(extra="forbid")

    chunk_size: int = Field(
        default=200, ge=1, le=10_000, description="Needs (or texts) per checkpoint: a killed job resumes there."
    )
    k: int = Field(default=10, ge=1, le=100, description="Suggestions stored per need by a re-rank.")
    lease_s: float = Field(
        default=300.0, gt=0, le=86_400, description="A running job whose worker is silent this long is resumed."
    )
    poll_s: float = Field(default=5.0, gt=0, le=600, description="How often an idle worker looks for queued jobs.")
    nightly_hour: int | None = Field(
        default=None, ge=0, le=23, description="Hour (UTC) of the scheduled nightly re-rank of every open need."
    )
    executor: Literal["inprocess", "dask"] = Field(
        default="inprocess", description="Where jobs embed and search: in the worker, or on a Dask cluster."
    )
    scheduler_address: str | None = Field(
        default=None, max_length=300, description="Dask scheduler (`tcp://host:8786`) when the executor is `dask`."
    )


class ConnectorSettings(BaseModel):
    """Connectors: harvesting partners' databases (``pollinate connectors``, the worker) and the public feeds."""

    model_config = ConfigDict(extra="forbid")

    directory: Path | None = Field(
        default=None,
        description="Folder of connector definitions (`*.toml`); default: `connectors/` in the data directory.",
    )
    allow_http: bool = Field(
        default=False, description="Accept `http://` connector sources (production: keep `false`, https only)."
    )
    allow_private: bool = Field(
        default=False,
        description="Accept connector sources on loopback, private or link-local addresses (tests only).",
    )
    timeout_s: float = Field(default=30.0, gt=0, le=300, description="Timeout of one request to a source.")
    max_page_bytes: int = Field(
        default=20_000_000, ge=1_000, le=500_000_000, description="Largest response (or file) a run reads."
    )
    max_pages: int = Field(default=500, ge=1, le=100_000, description="Most pages one run follows.")
    max_records: int = Field(default=100_000, ge=1, le=10_000_000, description="Most records one run reads.")
    poll_s: float = Field(
        default=60.0, gt=0, le=3600, description="How often the worker looks for connectors that are due."
    )
    feed_page_size: int = Field(default=100, ge=1, le=1000, description="Records per page of the public feeds.")


class Settings(BaseSettings):
    """All of Pollinate's configuration."""

    model_config = SettingsConfigDict(
        env_prefix="POLLINATE_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Database file, index files and caches (default: the per-user data folder).",
    )
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    index: IndexSettings = Field(default_factory=IndexSettings)
    ranking: RankingSettings = Field(default_factory=RankingSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    connectors: ConnectorSettings = Field(default_factory=ConnectorSettings)

    @property
    def database_url(self) -> str:
        """The configured database URL, or the embedded SQLite file in the data directory."""
        return self.database.url or sqlite_url(self.data_dir / "pollinate.db")

    @property
    def index_dir(self) -> Path:
        """Where index files are written."""
        return self.data_dir / "index"

    @property
    def connectors_dir(self) -> Path:
        """Where connector definitions are read from."""
        return self.connectors.directory or self.data_dir / "connectors"

    @property
    def cache_dir(self) -> Path:
        """Where derived artefacts (exported models...) are cached."""
        return self.data_dir / "cache"

    def open_database(self) -> Database:
        """A :class:`Database` for the configured URL."""
        return Database(self.database_url, echo=self.database.echo, busy_timeout_s=self.database.busy_timeout_s)

    @classmethod
    def table(cls) -> list[tuple[str, str, str]]:
        """(environment variable, default, description) for every setting, for docs and ``--help``."""
        rows: list[tuple[str, str, str]] = []
        for name, field in cls.model_fields.items():
            annotation: Any = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                rows.extend(_section_rows(f"POLLINATE_{name}", annotation))
            else:
                rows.append((f"POLLINATE_{name}".upper(), "(per-user data folder)", field.description or ""))
        return rows


def _section_rows(prefix: str, section: type[BaseModel]) -> list[tuple[str, str, str]]:
    """Rows of a settings section; a nested section (``notifications.smtp``) adds its own prefix."""
    rows: list[tuple[str, str, str]] = []
    for sub, subfield in section.model_fields.items():
        annotation: Any = subfield.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.extend(_section_rows(f"{prefix}__{sub}", annotation))
        else:
            rows.append((f"{prefix}__{sub}".upper(), repr(subfield.default), subfield.description or ""))
    return rows
