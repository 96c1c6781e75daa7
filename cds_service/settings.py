"""Typed settings: every `CDS_*` variable, its default and its check, in one model.

Code reads `Settings`, never raw `app.config`. An invalid or unknown `CDS_*` variable stops
start-up: a mistyped security setting silently falling back to a default is a bug.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from cds_service.fhir_client import any_loopback_port
from hooks.knowledge import DEFAULT_DIR as DEFAULT_KNOWLEDGE_DIR

# Variables with this prefix belong to the test suite (e.g. CDS_TEST_DATABASE_URL), not the app.
TEST_PREFIX = "TEST_"
# Secrets that may be mounted as files (Docker and Kubernetes secrets): CDS_<NAME>_FILE names
# the file, so the value never sits in the environment, `docker inspect` or a manifest.
SECRET_FILE_SETTINGS = ("DATABASE_URL", "PATIENT_HASH_SALT", "REDIS_URL", "METRICS_TOKEN")
FILE_SUFFIX = "_FILE"
MIN_TOKEN_CHARS = 16


class ConfigError(ValueError):
    """Configuration is invalid; raised at start-up only."""


def _list_of_str(value: Any) -> Any:
    """Accept a JSON list or a comma-separated string (env vars are strings)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


StrList = Annotated[list[str], BeforeValidator(_list_of_str)]


class Settings(BaseModel):
    """All service settings; field names are the `CDS_*` variable names without the prefix."""

    model_config = ConfigDict(frozen=True, extra="forbid", coerce_numbers_to_str=True)

    AUTH: Literal["jwt", "off"] = "jwt"
    PUBLIC_BASE_URL: str | None = None
    DATABASE_URL: str | None = None
    # Every database call fails after this long (connecting: at least libpq's 2 s minimum).
    DATABASE_TIMEOUT_SECONDS: float = Field(default=3.0, ge=0.2, le=60)
    INSTANCE_PATH: Path | None = None
    KNOWLEDGE_DIR: Path = DEFAULT_KNOWLEDGE_DIR
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Development only: a fixed clock for the rules, to replay historical data (e.g. Synthea).
    CLOCK: datetime | None = None

    # Outbound FHIR (prefetch fallback). Nothing outside the allowlist is ever contacted.
    FHIR_ALLOWLIST: StrList = Field(default_factory=list)
    FHIR_ALLOW_LOOPBACK_HTTP: bool = False
    PREFETCH_DEADLINE_SECONDS: float = Field(default=3.0, gt=0, le=30)
    FHIR_MAX_PAGES: int = Field(default=10, ge=1, le=100)
    FHIR_MAX_RESPONSE_BYTES: int = Field(default=10 * 1024 * 1024, ge=1024)

    # Inbound limits.
    MAX_BODY_BYTES: int = Field(default=5 * 1024 * 1024, ge=1024)
    MAX_JSON_DEPTH: int = Field(default=64, ge=8, le=512)
    MAX_PREFETCH_RESOURCES: int = Field(default=20_000, ge=1)

    CORS_ORIGINS: StrList = Field(default_factory=lambda: ["*"])

    # Pseudonymisation of patient ids in the card ledger; generated per instance if unset.
    PATIENT_HASH_SALT: SecretStr | None = None
    # Rule states (on/shadow/off) live in the database; each process rereads them at most this
    # often, so every worker and replica agrees within this many seconds of a change.
    RULE_STATES_TTL_SECONDS: float = Field(default=5.0, ge=0, le=300)

    # JWT (CDS Hooks 2.0 §Trusting CDS Clients).
    TRUSTED_ISSUERS: Path | None = None
    JWT_ALGORITHMS: StrList = Field(default_factory=lambda: ["ES384", "RS384"])
    JWT_LEEWAY_SECONDS: int = Field(default=30, ge=0, le=300)
    JWT_MAX_LIFETIME_SECONDS: int = Field(default=300, ge=1, le=3600)
    JWKS_TIMEOUT_SECONDS: float = Field(default=2.0, gt=0, le=30)
    JWKS_MIN_REFRESH_SECONDS: int = Field(default=60, ge=0)
    JWKS_MAX_CACHE_SECONDS: int = Field(default=3600, ge=1, le=86_400)
    JWKS_MAX_BYTES: int = Field(default=64 * 1024, ge=1024, le=4 * 1024 * 1024)
    SANDBOX_ISSUER: bool = False
    # Replay cache: Redis when set, else the database (shared by every worker and replica).
    REDIS_URL: str | None = None
    REDIS_KEY_PREFIX: str = Field(default="cds:jti:", min_length=1, max_length=64)
    REDIS_TIMEOUT_SECONDS: float = Field(default=1.0, gt=0, le=10)

    # /metrics: served on the main port (optionally behind a bearer token), or, with
    # METRICS_BIND (host:port), only there, by the gunicorn arbiter for all workers.
    METRICS_TOKEN: SecretStr | None = None
    METRICS_BIND: str | None = None

    # gunicorn's worker timeout (read by gunicorn_conf); every outbound deadline must fit in it.
    WORKER_TIMEOUT_SECONDS: int = Field(default=30, ge=5, le=600)

    @field_validator("CLOCK", mode="before")
    @classmethod
    def _clock_day_or_instant(cls, value: object) -> object:
        if isinstance(value, date) and not isinstance(value, datetime):
            value = value.isoformat()
        if isinstance(value, str) and len(value) == 10:
            return f"{value}T00:00:00+00:00"
        return value

    @field_validator("CLOCK")
    @classmethod
    def _clock_is_utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @field_validator("PUBLIC_BASE_URL")
    @classmethod
    def _absolute_base(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise ValueError("must be an absolute http(s) URL without a query")
        return value.rstrip("/")

    @field_validator("FHIR_ALLOWLIST")
    @classmethod
    def _allowlist_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{url!r} is not an absolute http(s) base URL")
            if parts.query or parts.fragment or parts.username:
                raise ValueError(f"{url!r} must not carry a query, fragment or credentials")
            if parts.netloc.endswith(":*") and not any_loopback_port(url):
                raise ValueError(f"{url!r}: a port of * is allowed only on a loopback host")
            if not parts.netloc.endswith(":*"):
                try:
                    _ = parts.port
                except ValueError:
                    raise ValueError(f"{url!r} has an invalid port") from None
        return [url.rstrip("/") for url in value]

    @field_validator("JWT_ALGORITHMS")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        # CDS Hooks 2.0: JWTs SHALL NOT use `none` or any symmetric algorithm.
        allowed = {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
        bad = [alg for alg in value if alg not in allowed]
        if bad or not value:
            raise ValueError(f"only asymmetric algorithms are allowed, not {bad or value}")
        return value

    @field_validator("METRICS_TOKEN")
    @classmethod
    def _long_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_TOKEN_CHARS:
            raise ValueError(f"must be at least {MIN_TOKEN_CHARS} characters")
        return value

    @field_validator("METRICS_BIND")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None:
            host, _, port = value.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError("must be host:port, e.g. 127.0.0.1:9100")
        return value

    @field_validator("REDIS_URL")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @model_validator(mode="after")
    def _any_port_only_for_local_testing(self) -> Settings:
        wild = [url for url in self.FHIR_ALLOWLIST if any_loopback_port(url)]
        if wild and not self.FHIR_ALLOW_LOOPBACK_HTTP:
            raise ValueError(
                "CDS_FHIR_ALLOWLIST: loopback entries with port * need "
                "CDS_FHIR_ALLOW_LOOPBACK_HTTP=true (local testing only)"
            )
        return self

    @model_validator(mode="after")
    def _jwt_needs_base_url(self) -> Settings:
        has_issuers = self.TRUSTED_ISSUERS is not None or self.SANDBOX_ISSUER
        if self.AUTH == "jwt" and has_issuers and not self.PUBLIC_BASE_URL:
            raise ValueError("CDS_PUBLIC_BASE_URL is required to check the JWT aud claim")
        return self

    @model_validator(mode="after")
    def _deadlines_fit_the_worker_timeout(self) -> Settings:
        # A call may wait on a JWKS fetch, the replay cache, the FHIR fallback and the card
        # ledger; gunicorn must not kill the worker first, or the client sees a dropped
        # connection instead of a clear 412 or 503.
        database = 2 * max(self.DATABASE_TIMEOUT_SECONDS, 2)
        budget = self.PREFETCH_DEADLINE_SECONDS + self.JWKS_TIMEOUT_SECONDS + database
        if budget >= self.WORKER_TIMEOUT_SECONDS:
            raise ValueError(
                "CDS_WORKER_TIMEOUT_SECONDS must exceed CDS_PREFETCH_DEADLINE_SECONDS + "
                "CDS_JWKS_TIMEOUT_SECONDS + 2 x max(CDS_DATABASE_TIMEOUT_SECONDS, 2)"
            )
        return self


def resolve_secret_files(
    raw: dict[str, Any], names: tuple[str, ...] = SECRET_FILE_SETTINGS
) -> dict[str, Any]:
    """Replace each `<NAME>_FILE` of a secret with the file's content (one final newline off).

    Errors name the variable and the path, never the content.
    """
    resolved = dict(raw)
    for name in names:
        key = name + FILE_SUFFIX
        if key not in resolved:
            continue
        path = Path(str(resolved.pop(key)))
        if name in resolved:
            raise ConfigError(f"set CDS_{name} or CDS_{key}, not both")
        try:
            value = path.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ConfigError(f"CDS_{key}: cannot read {path}: {reason}") from None
        if not value:
            raise ConfigError(f"CDS_{key}: {path} is empty")
        resolved[name] = value
    return resolved


def load_settings(raw: dict[str, Any]) -> Settings:
    """Validate settings, naming each bad variable as `CDS_<NAME>`."""
    raw = resolve_secret_files(raw)
    unknown = sorted(
        key for key in raw if key not in Settings.model_fields and not key.startswith(TEST_PREFIX)
    )
    if unknown:
        names = ", ".join(f"CDS_{key}" for key in unknown)
        raise ConfigError(f"unknown setting(s): {names}")
    known = {key: value for key, value in raw.items() if key in Settings.model_fields}
    try:
        return Settings.model_validate(known)
    except ValidationError as exc:
        problems = "; ".join(
            f"CDS_{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from exc
