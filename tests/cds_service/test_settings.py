from __future__ import annotations

from pathlib import Path

import pytest

from cds_service import create_app
from cds_service.assembly import read_environment
from cds_service.settings import ConfigError, load_settings
from tests.conftest import base_config


def test_environment_values_are_json_decoded_like_flask() -> None:
    raw = read_environment(
        {
            "CDS_AUTH": "off",
            "CDS_FHIR_ALLOW_LOOPBACK_HTTP": "true",
            "CDS_MAX_JSON_DEPTH": "32",
            "HOME": "/",
        }
    )

    assert raw == {"AUTH": "off", "FHIR_ALLOW_LOOPBACK_HTTP": True, "MAX_JSON_DEPTH": 32}


def test_an_unknown_cds_variable_stops_start_up_naming_it() -> None:
    with pytest.raises(ConfigError, match="CDS_JWT_AUDIENCE"):
        load_settings({"JWT_AUDIENCE": "x"})


def test_cds_test_variables_belong_to_the_test_suite() -> None:
    settings = load_settings({"TEST_DATABASE_URL": "postgresql://x", "AUTH": "off"})

    assert settings.AUTH == "off"


def test_an_invalid_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="CDS_AUTH"):
        load_settings({"AUTH": "maybe"})


@pytest.mark.parametrize("alg", ["HS256", "none"])
def test_symmetric_or_none_algorithms_cannot_be_configured(alg: str) -> None:
    with pytest.raises(ConfigError, match="CDS_JWT_ALGORITHMS"):
        load_settings({"JWT_ALGORITHMS": ["ES384", alg]})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            '["https://a.example/fhir", "https://b.example"]',
            ["https://a.example/fhir", "https://b.example"],
        ),
        (
            "https://a.example/fhir/, https://b.example",
            ["https://a.example/fhir", "https://b.example"],
        ),
    ],
)
def test_allowlist_accepts_json_or_commas(value: str, expected: list[str]) -> None:
    assert expected == load_settings({"FHIR_ALLOWLIST": value}).FHIR_ALLOWLIST


def test_allowlist_entries_with_credentials_are_refused() -> None:
    with pytest.raises(ConfigError, match="CDS_FHIR_ALLOWLIST"):
        load_settings({"FHIR_ALLOWLIST": ["https://user:pw@a.example/fhir"]})


def test_a_mapping_overrides_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CDS_MAX_BODY_BYTES", "4096")

    app = create_app(base_config(tmp_path, MAX_BODY_BYTES=8192))

    assert app.extensions["cds"].settings.MAX_BODY_BYTES == 8192
    assert app.config["MAX_CONTENT_LENGTH"] == 8192


def test_a_server_database_without_a_salt_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CDS_PATIENT_HASH_SALT"):
        create_app(base_config(tmp_path, DATABASE_URL="postgresql+psycopg://u@127.0.0.1/x"))


def test_a_broken_knowledge_folder_stops_start_up(tmp_path: Path) -> None:
    bad = tmp_path / "knowledge"
    bad.mkdir()

    with pytest.raises(ConfigError):
        create_app(base_config(tmp_path, KNOWLEDGE_DIR=str(bad)))


def test_a_fixed_clock_is_used_by_the_rules_and_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from datetime import UTC, datetime

    app = create_app(base_config(tmp_path, CLOCK="2021-04-01"))

    assert app.extensions["cds"].pipeline.clock() == datetime(2021, 4, 1, tzinfo=UTC)
    assert "CLOCK IS FIXED" in caplog.text


def test_without_a_fixed_clock_the_rules_use_the_real_time(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    app = create_app(base_config(tmp_path))

    assert abs(app.extensions["cds"].pipeline.clock() - datetime.now(UTC)) < timedelta(seconds=5)


def test_an_unparseable_clock_stops_start_up() -> None:
    with pytest.raises(ConfigError, match="CDS_CLOCK"):
        load_settings({"CLOCK": "last tuesday"})


@pytest.mark.parametrize(
    "entry", ["https://ehr.example.org:*/fhir", "http://10.0.0.1:*", "http://localhost:x"]
)
def test_a_port_wildcard_is_only_for_loopback_hosts(entry: str) -> None:
    with pytest.raises(ConfigError, match="CDS_FHIR_ALLOWLIST"):
        load_settings({"FHIR_ALLOWLIST": [entry], "FHIR_ALLOW_LOOPBACK_HTTP": True})


def test_a_loopback_port_wildcard_needs_the_local_testing_mode() -> None:
    with pytest.raises(ConfigError, match="CDS_FHIR_ALLOW_LOOPBACK_HTTP"):
        load_settings({"FHIR_ALLOWLIST": ["http://127.0.0.1:*"]})


def test_without_the_wildcard_a_loopback_entry_still_means_one_port() -> None:
    from cds_service.fhir_client import ServerNotAllowed, allowed_target

    allowlist = load_settings(
        {"FHIR_ALLOWLIST": ["http://127.0.0.1"], "FHIR_ALLOW_LOOPBACK_HTTP": True}
    ).FHIR_ALLOWLIST

    with pytest.raises(ServerNotAllowed):
        allowed_target("http://127.0.0.1:8081/fhir", None, allowlist, True)


def test_a_port_wildcard_is_ignored_outside_the_local_testing_mode() -> None:
    from cds_service.fhir_client import ServerNotAllowed, allowed_target

    with pytest.raises(ServerNotAllowed):
        allowed_target("https://127.0.0.1:8443/fhir", None, ["https://127.0.0.1:*"], False)


def test_the_worker_timeout_must_cover_the_database_deadlines() -> None:
    with pytest.raises(ConfigError, match="CDS_DATABASE_TIMEOUT_SECONDS"):
        load_settings({"DATABASE_TIMEOUT_SECONDS": 10, "WORKER_TIMEOUT_SECONDS": 20})
