"""CDS Hooks 2.0 web service: HTTP, protocol models, prefetch, storage and CLI."""

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

# An installed wheel carries hooks, cards and knowledge in _bundled/ (see pyproject.toml), so
# they never clash with other distributions' generic top-level names; they must be importable
# before the app is. A source checkout has no such folder: they are top-level there.
_BUNDLED = Path(__file__).resolve().parent / "_bundled"
if _BUNDLED.is_dir() and str(_BUNDLED) not in sys.path:
    sys.path.insert(0, str(_BUNDLED))

if TYPE_CHECKING:
    from cds_service.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # Lazy: `python -m cds_service.healthcheck` runs every 30 s in the container and must not
    # import Flask, pydantic and the FHIR models (measured: 1.5-2.2 s and 93 MB) to ask /healthz.
    if name == "create_app":
        from cds_service.app import create_app

        return create_app
    raise AttributeError(f"module 'cds_service' has no attribute {name!r}")
