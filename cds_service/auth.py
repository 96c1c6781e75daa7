"""Caller authentication (CDS Hooks 2.0 §Trusting CDS Clients): verify the bearer JWT.

Every failure is `Unauthorized(<category>)`: a bare 401 whose category is logged, never the
token or its claims. The token's own `alg` never chooses the verification method: it must be
on the asymmetric allowlist and match the type of the trusted key its `kid` names.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from jwt import exceptions as jwt_errors

from cds_service.errors import Unauthorized
from cds_service.issuers import Issuer, load_issuers
from cds_service.jwks import JwksCache, JwksUnavailable, VerificationKey
from cds_service.logs import log_event
from cds_service.replay import ReplayCache, build_replay_cache
from cds_service.settings import Settings
from cds_service.store import Store

MAX_TOKEN_CHARS = 8192
MAX_JTI_CHARS = 256
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "jti")

# Most specific first (isinstance order matters: InvalidSignatureError is a DecodeError).
ERROR_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt_errors.InvalidSignatureError, "bad-signature"),
    (jwt_errors.ExpiredSignatureError, "expired"),
    (jwt_errors.ImmatureSignatureError, "not-yet-valid"),
    (jwt_errors.InvalidAudienceError, "wrong-audience"),
    (jwt_errors.InvalidIssuerError, "wrong-issuer"),
    (jwt_errors.InvalidIssuedAtError, "invalid-iat"),
    (jwt_errors.InvalidJTIError, "invalid-jti"),
    (jwt_errors.InvalidAlgorithmError, "alg-not-allowed"),
    (jwt_errors.DecodeError, "malformed-token"),
    (jwt_errors.InvalidTokenError, "invalid-token"),
)


@dataclass(frozen=True, slots=True)
class _Header:
    alg: str
    kid: str
    jku: str | None


@dataclass(frozen=True)
class Authenticator:
    """Decides whether a request may reach discovery, a service or feedback."""

    settings: Settings
    issuers: Mapping[str, Issuer] = field(default_factory=dict)
    jwks: JwksCache | None = None
    replay: ReplayCache | None = None

    def authenticate(self, authorization: str | None, audience_path: str) -> None:
        """Raise Unauthorized unless the caller is trusted for this endpoint."""
        if self.settings.AUTH == "off":
            return
        token = _bearer_token(authorization)
        header = _checked_header(token, self.settings.JWT_ALGORITHMS)
        issuer = self._issuer(token)
        key = self._key(issuer, header)
        claims = self._verified_claims(token, key, header.alg, issuer, audience_path)
        # Last, so a token that fails any other check cannot burn its jti.
        if self.replay is None:
            raise Unauthorized("no-replay-cache")
        # Kept until the token could no longer pass the exp check anyway.
        until = claims["exp"] + self.settings.JWT_LEEWAY_SECONDS
        if not self.replay.first_use(issuer.iss, claims["jti"], until):
            raise Unauthorized("replayed-jti")

    def _issuer(self, token: str) -> Issuer:
        # Unverified, only to pick the issuer's keys; the signature check then binds `iss`.
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt_errors.PyJWTError:
            raise Unauthorized("malformed-token") from None
        iss = unverified.get("iss")
        if not isinstance(iss, str):
            raise Unauthorized("missing-iss")
        issuer = self.issuers.get(iss)
        if issuer is None:
            raise Unauthorized("untrusted-issuer")
        return issuer

    def _key(self, issuer: Issuer, header: _Header) -> VerificationKey:
        # CDS Hooks 2.0: services SHOULD allowlist `jku`; one not on the list is never fetched.
        if header.jku is not None and not issuer.allows_jku(header.jku):
            raise Unauthorized("jku-not-allowed")
        if issuer.pinned is not None:
            key = issuer.pinned.get(header.kid)
        else:
            url = header.jku or issuer.jwks_url
            if url is None or self.jwks is None:
                raise Unauthorized("no-key-source")
            try:
                key = self.jwks.key(url, header.kid)
            except JwksUnavailable:
                raise Unauthorized("jwks-unavailable") from None
        if key is None:
            raise Unauthorized("unknown-kid")
        if not key.accepts(header.alg):
            raise Unauthorized("key-alg-mismatch")
        return key

    def _verified_claims(
        self, token: str, key: VerificationKey, alg: str, issuer: Issuer, path: str
    ) -> dict[str, Any]:
        if not self.settings.PUBLIC_BASE_URL:
            raise Unauthorized("no-public-base-url")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[alg],  # one algorithm, already matched to the key's own type
                audience=self.settings.PUBLIC_BASE_URL + path,
                issuer=issuer.iss,
                leeway=self.settings.JWT_LEEWAY_SECONDS,
                options={"require": list(REQUIRED_CLAIMS), "enforce_minimum_key_length": True},
            )
        except jwt_errors.MissingRequiredClaimError as exc:
            raise Unauthorized(f"missing-{exc.claim}") from None
        except jwt_errors.PyJWTError as exc:
            raise Unauthorized(_reason(exc)) from None
        # PyJWT checks exp/iat through int(), which also accepts numeric strings: insist on numbers.
        if not all(_is_time(claims[name]) for name in ("exp", "iat")):
            raise Unauthorized("invalid-time-claim")
        if claims["exp"] - claims["iat"] > self.settings.JWT_MAX_LIFETIME_SECONDS:
            raise Unauthorized("lifetime-too-long")
        if not isinstance(claims["jti"], str) or not 0 < len(claims["jti"]) <= MAX_JTI_CHARS:
            raise Unauthorized("invalid-jti")
        if issuer.tenant is not None and claims.get("tenant") != issuer.tenant:
            raise Unauthorized("wrong-tenant")
        return claims


def _is_time(value: object) -> bool:
    """A NumericDate (RFC 7519 §2): a finite JSON number, not a bool or a string."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _reason(exc: Exception) -> str:
    return next((reason for kind, reason in ERROR_REASONS if isinstance(exc, kind)), "invalid")


def _bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("missing-token")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise Unauthorized("malformed-header")
    if len(token) > MAX_TOKEN_CHARS:
        raise Unauthorized("token-too-large")
    return token


def _checked_header(token: str, allowed: list[str]) -> _Header:
    try:
        header = jwt.get_unverified_header(token)
    except jwt_errors.PyJWTError:
        raise Unauthorized("malformed-token") from None
    alg, kid, jku = header.get("alg"), header.get("kid"), header.get("jku")
    # CDS Hooks 2.0: SHALL NOT use `none` or any symmetric (HMAC) algorithm, whatever is set.
    if not isinstance(alg, str) or alg not in allowed or alg.upper().startswith("HS"):
        raise Unauthorized("alg-not-allowed")
    if header.get("typ") != "JWT":
        raise Unauthorized("bad-typ")
    if not isinstance(kid, str) or not kid:
        raise Unauthorized("missing-kid")
    if jku is not None and not isinstance(jku, str):
        raise Unauthorized("malformed-token")
    return _Header(alg=alg, kid=kid, jku=jku)


def build_authenticator(settings: Settings, store: Store | None) -> Authenticator:
    """Load trusted issuers, the JWKS cache and the replay cache (jwt mode only)."""
    if settings.SANDBOX_ISSUER:
        log_event(
            logging.WARNING,
            "SANDBOX ISSUER IS TRUSTED: its private key is public, so anyone can mint accepted "
            "tokens; dev/test only, never with real patient data",
            setting="CDS_SANDBOX_ISSUER",
        )
    if settings.AUTH == "off":
        return Authenticator(settings)
    issuers = load_issuers(settings.TRUSTED_ISSUERS, sandbox=settings.SANDBOX_ISSUER)
    if not issuers:
        log_event(
            logging.WARNING,
            "no trusted JWT issuers: every call will be rejected with 401",
            setting="CDS_TRUSTED_ISSUERS",
        )
    jwks = JwksCache(
        timeout=settings.JWKS_TIMEOUT_SECONDS,
        min_refresh=settings.JWKS_MIN_REFRESH_SECONDS,
        max_cache=settings.JWKS_MAX_CACHE_SECONDS,
        max_bytes=settings.JWKS_MAX_BYTES,
    )
    log_event(logging.INFO, "trusted issuers loaded", issuer_count=len(issuers))
    return Authenticator(settings, issuers, jwks, build_replay_cache(settings, store))
