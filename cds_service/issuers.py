"""Trusted JWT issuers (CDS Hooks 2.0 §Trusting CDS Clients: an allowlist of `iss` and `jku`).

Read once at start-up from the CDS_TRUSTED_ISSUERS file (JSON or YAML), plus the sandbox
preset when CDS_SANDBOX_ISSUER is on. A bad file stops start-up; nothing here fetches keys.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Self

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from cds_service.jwks import VerificationKey, key_url_allowed, parse_jwks
from cds_service.settings import ConfigError

SANDBOX_ISS = "https://sandbox.cds-hooks.org"
SANDBOX_JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
SANDBOX_JWKS = "presets/sandbox-jwks.json"

Text = Annotated[str, StringConstraints(min_length=1, max_length=2048)]


class IssuerEntry(BaseModel):
    """One trusted CDS Client: where its keys are, which `jku`s it may name, its tenant."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    iss: Text
    jwks_url: Text | None = None
    jwks: dict[str, Any] | None = None
    jku: list[Text] = Field(default_factory=list)
    tenant: Text | None = None

    @field_validator("jwks_url")
    @classmethod
    def _jwks_url_safe(cls, value: str | None) -> str | None:
        if value is not None and not key_url_allowed(value):
            raise ValueError("must be https (http only on a loopback address), no credentials")
        return value

    @field_validator("jku")
    @classmethod
    def _jku_safe(cls, value: list[str]) -> list[str]:
        bad = [url for url in value if not key_url_allowed(url)]
        if bad:
            raise ValueError(f"{bad[0]!r} must be https (http only on a loopback address)")
        return value

    @field_validator("jwks")
    @classmethod
    def _jwks_usable(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and not parse_jwks(value):
            raise ValueError("holds no usable public signing key (EC P-256/384/521 or RSA ≥ 2048)")
        return value

    @model_validator(mode="after")
    def _one_key_source(self) -> Self:
        if (self.jwks_url is None) == (self.jwks is None):
            raise ValueError("give exactly one of jwks_url or jwks")
        return self


class IssuerFile(BaseModel):
    """The CDS_TRUSTED_ISSUERS document."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    issuers: Annotated[list[IssuerEntry], Field(min_length=1)]


@dataclass(frozen=True)
class Issuer:
    """A trusted issuer, ready for verification."""

    iss: str
    jwks_url: str | None
    pinned: Mapping[str, VerificationKey] | None  # inline keys: never fetched
    jku: frozenset[str]
    tenant: str | None = None

    def allows_jku(self, jku: str) -> bool:
        """A token's `jku` must be allowlisted; naming the configured jwks_url is also fine."""
        return jku in self.jku or jku == self.jwks_url


def load_issuers(path: Path | None, *, sandbox: bool) -> dict[str, Issuer]:
    """Every trusted issuer by `iss`; ConfigError names the file and the problem."""
    issuers: list[Issuer] = []
    if path is not None:
        issuers.extend(_from_entry(entry) for entry in _read_file(path).issuers)
    if sandbox:
        issuers.append(sandbox_issuer())
    by_iss: dict[str, Issuer] = {}
    for issuer in issuers:
        if issuer.iss in by_iss:
            raise ConfigError(f"CDS_TRUSTED_ISSUERS: issuer {issuer.iss!r} is listed twice")
        by_iss[issuer.iss] = issuer
    return by_iss


def sandbox_issuer() -> Issuer:
    """The public CDS Hooks sandbox, key pinned (its jku is on the internet; never fetched).

    Its private key is published in the sandbox repository: anyone can mint these tokens.
    """
    raw = resources.files("cds_service").joinpath(SANDBOX_JWKS).read_bytes()
    return Issuer(
        iss=SANDBOX_ISS,
        jwks_url=None,
        pinned=parse_jwks(json.loads(raw)),
        jku=frozenset({SANDBOX_JKU}),
    )


def _read_file(path: Path) -> IssuerFile:
    where = f"CDS_TRUSTED_ISSUERS ({path})"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{where}: cannot be read ({type(exc).__name__})") from exc
    try:
        document = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    except (yaml.YAMLError, ValueError) as exc:
        raise ConfigError(f"{where}: not valid JSON/YAML ({type(exc).__name__})") from exc
    try:
        return IssuerFile.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'document'}: {err['msg']}"
            for err in exc.errors(include_input=False)
        )
        raise ConfigError(f"{where}: {problems}") from exc


def _from_entry(entry: IssuerEntry) -> Issuer:
    return Issuer(
        iss=entry.iss,
        jwks_url=entry.jwks_url,
        pinned=parse_jwks(entry.jwks) if entry.jwks is not None else None,
        jku=frozenset(entry.jku),
        tenant=entry.tenant,
    )
