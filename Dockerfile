# Production image: the same install commands as README.md § Production.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --system --create-home --uid 10001 cds \
 && mkdir -p /var/lib/cds \
 && chown cds:cds /var/lib/cds

WORKDIR /src
COPY pyproject.toml README.md ./
COPY cds_service ./cds_service
COPY hooks ./hooks
COPY cards ./cards
COPY knowledge ./knowledge

RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install .

ENV PATH=/opt/venv/bin:$PATH \
    CDS_INSTANCE_PATH=/var/lib/cds \
    GUNICORN_BIND=0.0.0.0:8080

USER cds
WORKDIR /var/lib/cds
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=3s --start-period=15s --retries=3 \
  CMD ["python3", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"]

# Run migrations as a separate step: docker run IMAGE cds-service db upgrade
CMD ["gunicorn", "-c", "python:cds_service.gunicorn_conf"]
