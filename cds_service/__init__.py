"""CDS Hooks 2.0 web service: HTTP, protocol models, prefetch, storage and CLI."""

from cds_service.app import create_app

__all__ = ["create_app"]
