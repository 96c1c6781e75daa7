"""Caller authentication (CDS Hooks 2.0 §Trusting CDS Clients).

Until JWT verification lands, `jwt` mode fails closed: every protected call is a bare 401.
"""

from __future__ import annotations

from dataclasses import dataclass

from cds_service.errors import Unauthorized
from cds_service.settings import Settings


@dataclass(frozen=True)
class Authenticator:
    """Decides whether a request may reach discovery, a service or feedback."""

    settings: Settings

    def authenticate(self, authorization: str | None, audience_path: str) -> None:
        """Raise Unauthorized unless the caller is trusted for this endpoint."""
        if self.settings.AUTH == "off":
            return
        raise Unauthorized("jwt-verification-unavailable")
