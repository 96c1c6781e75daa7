"""The trusted-issuer file (JSON or YAML, checked at start-up) and the sandbox preset."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

from cds_service import create_app
from cds_service.issuers import SANDBOX_ISS, SANDBOX_JKU, load_issuers, sandbox_issuer
from cds_service.settings import ConfigError
from tests.cds_service.auth_support import (
    bearer,
    es384,
    jwks,
    jwt_app,
    mint,
    request_reasons,
    write_issuers,
)
from tests.conftest import base_config, log_lines

SANDBOX_KID = "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"
# The sandbox's published public key (shared/reference/sandbox-jwks.json).
SANDBOX_X = "dw_JGR8nB2I6XveNxUOl2qk699ZPLM2nYI5STSdiEl9avAkrm3CkfYMbrrjr8laB"
EC_JWK = es384("k1").public_jwk


def test_a_yaml_file_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "issuers.yaml"
    entry = {"iss": "https://ehr.example.org", "jwks": {"keys": [EC_JWK]}, "tenant": "t1"}
    path.write_text(yaml.safe_dump({"issuers": [entry]}))

    issuer = load_issuers(path, sandbox=False)["https://ehr.example.org"]

    assert (issuer.tenant, list(issuer.pinned or {})) == ("t1", ["k1"])


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"iss": "https://e.org", "jwks_uri": "https://e.org/j"}, "jwks_uri"),
        ({"iss": "https://e.org"}, "exactly one of jwks_url or jwks"),
        (
            {"iss": "https://e.org", "jwks_url": "https://e.org/j", "jwks": {"keys": [EC_JWK]}},
            "exactly one of jwks_url or jwks",
        ),
        ({"iss": "https://e.org", "jwks_url": "http://e.org/j"}, "jwks_url"),
        ({"iss": "https://e.org", "jwks_url": "https://e.org/j", "jku": ["http://e.org/k"]}, "jku"),
        (
            {"iss": "https://e.org", "jwks": {"keys": [{"kty": "oct", "kid": "h", "k": "c2Vj"}]}},
            "jwks",
        ),
        ({"iss": "", "jwks_url": "https://e.org/j"}, "iss"),
        ({"iss": "https://e.org", "jwks_url": "https://e.org/j", "tenant": ""}, "tenant"),
    ],
)
def test_a_bad_entry_stops_start_up_naming_the_problem(
    tmp_path: Path, entry: dict[str, Any], problem: str
) -> None:
    path = write_issuers(tmp_path, entry)

    with pytest.raises(ConfigError, match="CDS_TRUSTED_ISSUERS") as caught:
        jwt_app(tmp_path, path)

    assert problem in str(caught.value)


@pytest.mark.parametrize(
    ("text", "problem"),
    [("{not json", "not valid JSON"), ('{"issuers": []}', "issuers"), ("[]", "document")],
)
def test_an_unparsable_or_empty_file_stops_start_up(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "issuers.json"
    path.write_text(text)

    with pytest.raises(ConfigError, match=problem):
        load_issuers(path, sandbox=False)


def test_a_missing_file_stops_start_up(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_issuers(tmp_path / "nope.json", sandbox=False)


def test_an_issuer_listed_twice_stops_start_up(tmp_path: Path) -> None:
    entry = {"iss": "https://e.org", "jwks_url": "https://e.org/j"}

    with pytest.raises(ConfigError, match="listed twice"):
        load_issuers(write_issuers(tmp_path, entry, entry), sandbox=False)


def test_the_sandbox_preset_pins_the_published_sandbox_key() -> None:
    issuer = sandbox_issuer()

    assert issuer.iss == SANDBOX_ISS
    assert issuer.jwks_url is None
    assert issuer.allows_jku(SANDBOX_JKU)
    pinned = (issuer.pinned or {})[SANDBOX_KID]
    assert pinned.accepts("ES384")
    assert isinstance(pinned.key, EllipticCurvePublicKey)
    assert pinned.key.public_numbers().x == _b64_int(SANDBOX_X)


def _b64_int(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def test_the_sandbox_issuer_is_off_by_default(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = jwt_app(tmp_path, None)
    token = mint(es384(SANDBOX_KID), iss=SANDBOX_ISS)

    response = app.test_client().get("/cds-services", headers=bearer(token))

    assert response.status_code == 401
    assert request_reasons(caplog) == ["untrusted-issuer"]
    assert "SANDBOX" not in log_lines(caplog)


def test_the_sandbox_preset_warns_loudly_and_rejects_a_token_from_another_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetched: list[str] = []
    monkeypatch.setattr("cds_service.jwks.fetch_jwks", lambda url, **_: fetched.append(url))
    app = jwt_app(tmp_path, None, SANDBOX_ISSUER=True)
    impostor = es384(SANDBOX_KID)
    token = mint(impostor, iss=SANDBOX_ISS, header={"jku": SANDBOX_JKU})

    response = app.test_client().get("/cds-services", headers=bearer(token))

    assert response.status_code == 401
    assert request_reasons(caplog) == ["bad-signature"]  # the pinned key was found, and held
    assert fetched == []
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert any("SANDBOX ISSUER IS TRUSTED" in r.getMessage() for r in warnings)


def test_the_sandbox_preset_cannot_also_be_in_the_file(tmp_path: Path) -> None:
    path = write_issuers(tmp_path, {"iss": SANDBOX_ISS, "jwks": jwks(es384())})

    with pytest.raises(ConfigError, match="listed twice"):
        jwt_app(tmp_path, path, SANDBOX_ISSUER=True)


def test_issuers_without_a_public_base_url_stop_start_up(tmp_path: Path) -> None:
    config = base_config(tmp_path, AUTH="jwt", SANDBOX_ISSUER=True)
    del config["PUBLIC_BASE_URL"]

    with pytest.raises(ConfigError, match="CDS_PUBLIC_BASE_URL"):
        create_app(config)
