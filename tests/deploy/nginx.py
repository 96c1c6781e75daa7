"""Run the kit's nginx template for real: rendered as the image's envsubst step renders it."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from tests.conftest import require_or_skip
from tests.live import free_port

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
TEMPLATE = DEPLOY / "nginx" / "templates" / "default.conf.template"
VARIABLE = re.compile(r"\$\{(CDS_[A-Z_]+)\}")


def nginx_binary() -> str:
    """The nginx executable; skipped where absent (CI installs it and must not skip)."""
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )
    if found is None:
        require_or_skip("nginx is not installed (apt-get install nginx)")
    assert found is not None
    return found


def init_dev() -> ModuleType:
    """deploy/compose/init_dev.py, the kit's secret and certificate generator."""
    spec = importlib.util.spec_from_file_location("init_dev", DEPLOY / "compose" / "init_dev.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def render(values: dict[str, str], template: Path = TEMPLATE) -> str:
    """envsubst with NGINX_ENVSUBST_FILTER=^CDS_: every ${CDS_*} must have a value."""
    text = template.read_text(encoding="utf-8")
    missing = sorted(set(VARIABLE.findall(text)) - set(values))
    assert not missing, f"template variables without a value: {missing}"
    return VARIABLE.sub(lambda m: values[m.group(1)], text)


def main_config(folder: Path, include: Path) -> str:
    """A minimal main nginx.conf like the unprivileged image's, with every path in `folder`."""
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must write the temp folders
    temps = "\n".join(
        f"    {kind}_temp_path {folder / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}worker_processes 1;\npid {folder / 'nginx.pid'};\n"
        f"error_log {folder / 'error.log'} warn;\n"
        "events { worker_connections 512; }\n"
        f"http {{\n{temps}\n    include {include};\n}}\n"
    )


@dataclass(frozen=True)
class Proxy:
    """nginx running the kit's configuration on loopback, in front of `upstream`."""

    base: str
    port: int
    ca: Path
    access_log: Path
    error_log: Path

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))

    def access_lines(self) -> list[str]:
        return self.access_log.read_text(encoding="utf-8", errors="replace").splitlines()


def write_config(folder: Path, upstream: str, port: int, max_body: int) -> Path:
    """Certificates from the kit's generator, the rendered template and a main config."""
    folder.mkdir(parents=True, exist_ok=True)
    init_dev().make_tls(folder / "tls", ("127.0.0.1", "localhost"))
    conf = folder / "default.conf"
    conf.write_text(
        render(
            {
                "CDS_UPSTREAM": upstream,
                "CDS_LISTEN_PORT": f"127.0.0.1:{port}",
                "CDS_TLS_CERT": str(folder / "tls" / "tls.crt"),
                "CDS_TLS_KEY": str(folder / "tls" / "tls.key"),
                "CDS_MAX_BODY_BYTES": str(max_body),
            }
        )
    )
    main = folder / "nginx.conf"
    main.write_text(main_config(folder, conf))
    return main


def start_proxy(folder: Path, upstream: str, max_body: int) -> Iterator[Proxy]:
    """Start nginx in the foreground (its stdout is the JSON access log); stop it after."""
    binary = nginx_binary()
    port = free_port()
    main = write_config(folder, upstream, port, max_body)
    access = folder / "access.log"
    with access.open("wb") as out:
        process = subprocess.Popen(
            [binary, "-p", str(folder), "-c", str(main), "-g", "daemon off;"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_listening(port, process, folder / "error.log")
        yield Proxy(
            f"https://127.0.0.1:{port}",
            port,
            folder / "tls" / "ca.crt",
            access,
            folder / "error.log",
        )
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert process.poll() is None, f"nginx exited: {log.read_text() if log.exists() else ''}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("nginx did not start listening")
