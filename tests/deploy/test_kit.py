"""Every artefact in deploy/ and the Dockerfile, checked by a validator or against the code.

Validators nobody here wrote: `nginx -t`, hadolint, kubernetes-validate (strict, offline
schemas) and check-jsonschema's bundled Compose Specification. The rest checks that the kit
agrees with the service: setting names it would refuse at start-up, commands that exist,
one body limit for nginx and the service, the numeric user, memory for the workers.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from cds_service.cli import main
from cds_service.settings import SECRET_FILE_SETTINGS, Settings
from tests.deploy.nginx import (
    DEPLOY,
    ROOT,
    TEMPLATE,
    VARIABLE,
    init_dev,
    nginx_binary,
    write_config,
)

BIN = Path(sys.executable).parent
KUBERNETES = DEPLOY / "kubernetes"
COMPOSE = DEPLOY / "compose" / "compose.yaml"
# bench/README.md: 92-99 MiB RSS per worker under load; the master about as much again.
MIB_PER_PROCESS = 100


def setting_names() -> set[str]:
    names = {f"CDS_{name}" for name in Settings.model_fields}
    return names | {f"CDS_{name}_FILE" for name in SECRET_FILE_SETTINGS}


def template_variables() -> set[str]:
    return set(VARIABLE.findall(TEMPLATE.read_text()))


def run(*command: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, timeout=120, check=False
    )


def assert_cli_command(command: list[str]) -> None:
    """A container command is `cds-service ...` with arguments the CLI accepts."""
    assert command[0] == "cds-service", command
    result = CliRunner().invoke(main, [*command[1:], "--help"])
    assert result.exit_code == 0, f"{command}: {result.output}"


# --- nginx --------------------------------------------------------------------------------


def test_nginx_accepts_the_rendered_template(tmp_path: Path) -> None:
    binary = nginx_binary()
    config = write_config(tmp_path, "127.0.0.1:8080", 18443, 5242880)

    result = run(binary, "-t", "-p", tmp_path, "-c", config)

    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_the_kubernetes_nginx_template_is_the_kit_template() -> None:
    configmap = yaml.safe_load((KUBERNETES / "nginx-configmap.yaml").read_text())

    assert configmap["data"]["default.conf.template"] == TEMPLATE.read_text()


def test_nginx_exposes_no_metrics_and_never_retries_a_post() -> None:
    text = TEMPLATE.read_text()
    locations = re.findall(r"location\s+(=|\^~)?\s*(\S+)\s*\{", text)

    assert {path for _, path in locations if not path.startswith("@")} == {
        "/cds-services",
        "/cds-services/",
        "/healthz",
        "/readyz",
        "/openapi.json",
        "/",
    }
    assert "proxy_next_upstream off;" in text


def test_nginx_waits_longer_than_gunicorn_lets_a_worker_run() -> None:
    """Else nginx would answer 503 for a call gunicorn was still allowed to finish."""
    read_timeout = re.search(r"proxy_read_timeout (\d+)s;", TEMPLATE.read_text())

    assert read_timeout is not None
    assert int(read_timeout.group(1)) > Settings().WORKER_TIMEOUT_SECONDS


# --- Dockerfile ---------------------------------------------------------------------------


def test_hadolint_passes_the_dockerfile() -> None:
    result = run(BIN / "hadolint", "--failure-threshold", "info", ROOT / "Dockerfile")

    assert result.returncode == 0, result.stdout + result.stderr


def dockerfile_stages() -> list[list[str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_the_final_image_has_no_source_tree_and_runs_as_a_numeric_user() -> None:
    build, final = dockerfile_stages()
    copies = [line for line in final if line.startswith("COPY")]

    assert all("--from=build" in line or "LICENSE" in line for line in copies), copies
    assert "USER 10001:10001" in final
    assert any(
        line.startswith("HEALTHCHECK") and "cds_service.healthcheck" in line for line in final
    )
    assert any("org.opencontainers.image.licenses" in line for line in final)
    installs = [line for line in build if "pip install" in line]
    assert installs
    assert all("--require-hashes" in line or "--no-deps" in line for line in installs)


# --- Kubernetes ---------------------------------------------------------------------------


def manifests() -> dict[str, dict[str, Any]]:
    found = {}
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            found[f"{document['kind']}/{document['metadata']['name']}"] = document
    return found


@pytest.mark.parametrize("version", ["1.30.0", "1.37.0"])
def test_kubernetes_manifests_validate_strictly(version: str) -> None:
    files = sorted(KUBERNETES.glob("*.yaml"))

    result = run(BIN / "kubernetes-validate", "--strict", "-k", version, *files)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed") == len(files)


def pod_spec(resource: dict[str, Any]) -> dict[str, Any]:
    spec = resource["spec"]
    if resource["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    pod: dict[str, Any] = spec["template"]["spec"]
    return pod


def env_names(container: dict[str, Any]) -> set[str]:
    return {entry["name"] for entry in container.get("env", [])}


def test_the_service_pod_is_configured_as_the_service_expects() -> None:
    found = manifests()
    pod = pod_spec(found["Deployment/cds"])
    cds, nginx = pod["containers"]
    config = found["ConfigMap/cds-config"]["data"]
    env = {entry["name"]: entry for entry in cds["env"]}

    unknown = {name for name in [*config, *env] if name.startswith("CDS_")} - setting_names()
    assert not unknown, f"the service would refuse to start: {unknown}"
    workers = int(env["WEB_CONCURRENCY"]["value"])
    memory = cds["resources"]["requests"]["memory"]
    assert memory.endswith("Mi")
    assert int(memory[:-2]) >= (workers + 1) * MIB_PER_PROCESS * 0.95
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["runAsNonRoot"] is True
    for container in (cds, nginx):
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert cds["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert cds["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {m["mountPath"] for m in cds["volumeMounts"]} >= {
        "/tmp",
        env["CDS_INSTANCE_PATH"]["value"],
    }
    mounted = {m["name"] for c in pod["containers"] for m in c["volumeMounts"]}
    assert mounted == {v["name"] for v in pod["volumes"]}


def test_nginx_in_the_pod_gets_every_template_variable_and_the_same_limit() -> None:
    found = manifests()
    nginx = pod_spec(found["Deployment/cds"])["containers"][1]
    env = {entry["name"]: entry for entry in nginx["env"]}

    assert template_variables() <= set(env)
    limit = env["CDS_MAX_BODY_BYTES"]["valueFrom"]["configMapKeyRef"]
    assert limit == {"name": "cds-config", "key": "CDS_MAX_BODY_BYTES"}
    assert "CDS_MAX_BODY_BYTES" in found["ConfigMap/cds-config"]["data"]
    assert env["CDS_UPSTREAM"]["value"].startswith("127.0.0.1:")


def test_jobs_run_real_commands_with_only_the_database_url() -> None:
    found = manifests()
    for name in ("Job/cds-migrate", "CronJob/cds-purge"):
        [container] = pod_spec(found[name])["containers"]
        assert_cli_command(container["command"])
        assert env_names(container) == {"CDS_DATABASE_URL_FILE"}, name


def test_the_issuer_example_is_a_valid_issuer_file(tmp_path: Path) -> None:
    from cds_service.issuers import load_issuers

    data = manifests()["ConfigMap/cds-issuers"]["data"]["issuers.yaml"]
    (tmp_path / "issuers.yaml").write_text(data)

    assert list(load_issuers(tmp_path / "issuers.yaml", sandbox=False))


# --- Compose ------------------------------------------------------------------------------


def test_compose_file_matches_the_compose_specification() -> None:
    result = run(BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", COMPOSE)

    assert result.returncode == 0, result.stdout + result.stderr


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


def test_compose_services_agree_with_the_service_and_the_kit(tmp_path: Path) -> None:
    services = compose()["services"]
    cds, nginx, migrate = services["cds"], services["nginx"], services["migrate"]

    unknown = {n for n in cds["environment"] if n.startswith("CDS_")} - setting_names()
    assert not unknown, f"the service would refuse to start: {unknown}"
    assert set(migrate["environment"]) == {"CDS_DATABASE_URL_FILE"}
    assert_cli_command(migrate["command"])
    assert template_variables() <= set(nginx["environment"])
    assert cds["environment"]["CDS_MAX_BODY_BYTES"] == nginx["environment"]["CDS_MAX_BODY_BYTES"]
    assert nginx["ports"] == ["8443:8443"]
    assert "ports" not in cds  # only nginx is published
    assert cds["environment"]["WEB_CONCURRENCY"] == "2"
    templates = nginx["volumes"][0].split(":")[0]
    assert (COMPOSE.parent / templates / TEMPLATE.name).exists()


def test_init_dev_makes_every_secret_compose_mounts_and_keeps_them(tmp_path: Path) -> None:
    module = init_dev()
    out = tmp_path / ".dev"
    document = compose()

    module.make_secrets(out / "secrets")
    module.make_tls(out / "tls")
    salt = (out / "secrets" / "patient_hash_salt").read_text()
    module.make_secrets(out / "secrets")

    for secret in document["secrets"].values():
        assert (COMPOSE.parent / secret["file"]).relative_to(COMPOSE.parent / ".dev")
        assert (out / Path(secret["file"]).relative_to(".dev")).read_text()
    assert (out / "secrets" / "patient_hash_salt").read_text() == salt
    password = (out / "secrets" / "postgres_password").read_text()
    assert f"cds:{password}@db:5432/cds" in (out / "secrets" / "database_url").read_text()
    assert {"tls.crt", "tls.key", "ca.crt"} <= {p.name for p in (out / "tls").iterdir()}
