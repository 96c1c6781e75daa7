# syntax=docker/dockerfile:1
# Production image (README § Production). Two stages: the first builds a wheel and a virtual
# environment from the hashed lock files; the final image holds that environment and no source.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements/ ./requirements/
# --require-hashes: every package, and every package it pulls in, must match the lock's hash.
RUN python3 -m venv /opt/build \
 && /opt/build/bin/pip install --no-cache-dir --require-hashes -r requirements/build.txt \
 && python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --require-hashes -r requirements/runtime.txt
COPY pyproject.toml README.md LICENSE ./
COPY cds_service ./cds_service
COPY hooks ./hooks
COPY cards ./cards
COPY knowledge ./knowledge
RUN /opt/build/bin/pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /wheels . \
 && /opt/venv/bin/pip install --no-cache-dir --no-deps /wheels/knee_spasm_cds-*.whl


FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="knee-spasm-cds" \
      org.opencontainers.image.description="CDS Hooks 2.0 service: knee muscle spasm, cramp and twitch review on patient-view" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.documentation="README.md (Production), INTENDED_USE.md, SECURITY.md"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    CDS_INSTANCE_PATH=/var/lib/cds \
    GUNICORN_BIND=0.0.0.0:8080

# A fixed numeric user, so Kubernetes' runAsNonRoot can verify it and volumes can be owned by it.
RUN groupadd --system --gid 10001 cds \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /var/lib/cds \
      --shell /usr/sbin/nologin cds \
 && mkdir -p /var/lib/cds \
 && chown 10001:10001 /var/lib/cds \
 && chmod 0750 /var/lib/cds

COPY --from=build /opt/venv /opt/venv
COPY LICENSE /usr/share/doc/knee-spasm-cds/LICENSE

# The root filesystem may be read-only. Writable paths the service needs:
#   /var/lib/cds  CDS_INSTANCE_PATH: the SQLite default and the generated patient-hash salt.
#                 With CDS_DATABASE_URL and CDS_PATIENT_HASH_SALT(_FILE) it stays empty, but
#                 if used, it must persist and be backed up (losing the salt breaks the ledger).
#   /tmp          gunicorn's worker heartbeat files and Prometheus' multiprocess metric files.
USER 10001:10001
WORKDIR /var/lib/cds
EXPOSE 8080

# Follows GUNICORN_BIND (host:port, [::]:port or unix:path), so an override is still checked.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python3", "-m", "cds_service.healthcheck"]

# Migrations are a separate step, before the new version serves: cds-service db upgrade
CMD ["gunicorn", "-c", "python:cds_service.gunicorn_conf"]
