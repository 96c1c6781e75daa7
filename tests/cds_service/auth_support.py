"""JWT test kit: signing keys, a loopback JWKS server that records fetches, token minting."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Flask
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.conftest import make_app

BASE = "http://cds.test"
DROP = object()  # a claim or header value meaning "leave this out"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private: Any

    @property
    def public_jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        codec = RSAAlgorithm if self.alg.startswith(("RS", "PS")) else ECAlgorithm
        jwk: dict[str, Any] = codec.to_jwk(public, as_dict=True)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": self.alg}

    @property
    def public_pem(self) -> bytes:
        key = self.private.public_key()
        pem: bytes = key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return pem


def es384(kid: str = "es-1") -> SigningKey:
    return SigningKey(kid, "ES384", ec.generate_private_key(ec.SECP384R1()))


def rs384(kid: str = "rs-1") -> SigningKey:
    return SigningKey(kid, "RS384", rsa.generate_private_key(public_exponent=65537, key_size=2048))


def jwks(*keys: SigningKey) -> dict[str, Any]:
    return {"keys": [key.public_jwk for key in keys]}


@dataclass
class JwksServer:
    """Serves JWK Sets by path on 127.0.0.1 and records every path requested."""

    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=lambda: {"Cache-Control": "max-age=3600"})
    status: int = 200
    redirects: dict[str, str] = field(default_factory=dict)
    send_length: bool = True  # False: a body delimited by closing the connection
    seen: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.seen.append(self.path)
                if self.path in server.redirects:
                    self.send_response(302)
                    self.send_header("Location", server.url(server.redirects[self.path]))
                    self.end_headers()
                    return
                document = server.documents.get(self.path)
                status = server.status if document is not None else 404
                raw = json.dumps(document or {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if server.send_length:
                    self.send_header("Content-Length", str(len(raw)))
                for name, value in server.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        # A short poll interval keeps shutdown (and so each test's teardown) fast.
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def __enter__(self) -> JwksServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def mint(
    key: SigningKey,
    path: str = "/cds-services",
    *,
    iss: str = "https://ehr.example.org",
    header: dict[str, Any] | None = None,
    alg: str | None = None,
    signer: Any = None,
    **claims: Any,
) -> str:
    """A token for `path` on BASE; claims and header entries set to DROP are removed."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": iss,
        "aud": BASE + path,
        "exp": now + 300,
        "iat": now,
        "jti": str(uuid.uuid4()),
        **claims,
    }
    payload = {k: v for k, v in payload.items() if v is not DROP}
    headers = {"kid": key.kid, "typ": "JWT", **(header or {})}
    headers = {k: v for k, v in headers.items() if v is not DROP}
    return jwt.encode(
        payload, signer or key.private, algorithm=alg or key.alg, headers=headers, sort_headers=True
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_signed(header: dict[str, Any], payload: dict[str, Any], secret: bytes | None) -> str:
    """Build a token PyJWT refuses to make: `alg: none`, or HS256 keyed with a public key."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    if secret is None:
        return signing_input + "."
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def claims(path: str = "/cds-services", iss: str = "https://ehr.example.org") -> dict[str, Any]:
    now = int(time.time())
    return {"iss": iss, "aud": BASE + path, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}


def write_issuers(tmp_path: Path, *entries: dict[str, Any], name: str = "issuers.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"issuers": list(entries)}))
    return path


def jwt_app(tmp_path: Path, issuers: Path | None, **config: Any) -> Flask:
    settings: dict[str, Any] = {"AUTH": "jwt", "PUBLIC_BASE_URL": BASE, **config}
    if issuers is not None:
        settings["TRUSTED_ISSUERS"] = str(issuers)
    return make_app(tmp_path, **settings)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def request_reasons(caplog: pytest.LogCaptureFixture) -> list[str | None]:
    """The `reason` of every request log line, in order (the 401 category, or None)."""
    return [
        getattr(r, "cds", {}).get("reason") for r in caplog.records if r.getMessage() == "request"
    ]
