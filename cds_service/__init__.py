"""CDS Hooks 2.0 web service: HTTP, protocol models, prefetch, storage and CLI."""

import sys
from pathlib import Path

# An installed wheel carries hooks, cards and knowledge in _bundled/ (see pyproject.toml), so
# they never clash with other distributions' generic top-level names; they must be importable
# before the app is. A source checkout has no such folder: they are top-level there.
_BUNDLED = Path(__file__).resolve().parent / "_bundled"
if _BUNDLED.is_dir() and str(_BUNDLED) not in sys.path:
    sys.path.insert(0, str(_BUNDLED))

from cds_service.app import create_app  # noqa: E402 - needs the path above

__all__ = ["create_app"]
