#!/usr/bin/env python3
"""Development secrets and a TLS certificate for the compose stack. Never for production.

    .venv/bin/python deploy/compose/init_dev.py        # writes deploy/compose/.dev/

Writes (git-ignored), keeping any file that already exists, since a new patient-hash salt
would break the card ledger's joins and a new database password would lock the service out:

    .dev/secrets/postgres_password  database_url  redis_password  redis_url  patient_hash_salt
    .dev/tls/ca.crt  (trust this one: curl --cacert)  tls.crt  tls.key

Files are world-readable because compose bind-mounts them into containers that run as other
users (postgres, redis, nginx, the service's 10001); the .dev folder itself is private.
Needs only `cryptography`, which the service already depends on.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HERE = Path(__file__).resolve().parent
DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")


def write_once(path: Path, content: bytes) -> bool:
    """Create `path` with `content` unless it exists; True if written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
    return True


def make_secrets(folder: Path) -> list[Path]:
    """Passwords, the URLs that carry them, and the salt; returns the files written."""
    written = []
    pg_file, redis_file = folder / "postgres_password", folder / "redis_password"
    write_once(pg_file, secrets.token_urlsafe(24).encode())
    write_once(redis_file, secrets.token_urlsafe(24).encode())
    pg, redis = pg_file.read_text().strip(), redis_file.read_text().strip()
    files = {
        "database_url": f"postgresql+psycopg://cds:{pg}@db:5432/cds",
        "redis_url": f"redis://:{redis}@redis:6379/0",
        "patient_hash_salt": secrets.token_hex(32),
    }
    for name, value in files.items():
        if write_once(folder / name, value.encode()):
            written.append(folder / name)
    return written


def make_tls(folder: Path, hosts: tuple[str, ...] = DEFAULT_HOSTS, days: int = 365) -> None:
    """A development CA and a server certificate it signs, for `hosts` (names or IPs)."""
    if (folder / "tls.crt").exists():
        return
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "knee-spasm-cds development CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    write_once(folder / "ca.crt", ca.public_bytes(pem))
    write_once(
        folder / "tls.key",
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    write_once(folder / "tls.crt", server.public_bytes(pem) + ca.public_bytes(pem))


def main() -> None:
    """Write what is missing under --out."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=HERE / ".dev", help="output folder")
    parser.add_argument(
        "--host", action="append", help="certificate name or IP (repeatable; default localhost)"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    args.out.chmod(0o700)
    written = make_secrets(args.out / "secrets")
    make_tls(args.out / "tls", tuple(args.host) if args.host else DEFAULT_HOSTS)
    print(f"development secrets and certificate in {args.out}")
    if not written:
        print("(existing secrets kept)")


if __name__ == "__main__":
    main()
