"""Run gunicorn in-process with `gunicorn_conf`, so `cds-service serve` is the production server."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from cds_service import gunicorn_conf


class _Server(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key in dir(gunicorn_conf):
            if key in self.cfg.settings and not key.startswith("_"):
                self.cfg.set(key, getattr(gunicorn_conf, key))
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from cds_service.wsgi import app

        return app


def run_gunicorn(bind: str, workers: int | None) -> None:
    """Serve until interrupted."""
    options: dict[str, Any] = {"bind": bind}
    if workers:
        options["workers"] = workers
    _Server(options).run()
