"""Run gunicorn in-process with `gunicorn_conf`, so `cds-service serve` is the production server.

Configuration is layered as gunicorn itself layers it, lowest first: our production settings
(`gunicorn_conf`), a `-c` config file, `GUNICORN_CMD_ARGS`, gunicorn options given after
`--`, then serve's own --host/--port/--workers. So TLS, proxy and timeout options work here
exactly as with the `gunicorn` command.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gunicorn.app.base import Application

GUNICORN_CONF = "python:cds_service.gunicorn_conf"


class Server(Application):  # type: ignore[misc]
    """gunicorn's Application, configured from our layers instead of sys.argv."""

    def __init__(self, args: Sequence[str], overrides: Mapping[str, Any]) -> None:
        self.args = list(args)
        self.overrides = dict(overrides)
        super().__init__()

    def load_config(self) -> None:
        """Apply each layer in order; a later one wins."""
        self.load_config_from_module_name_or_filename(GUNICORN_CONF)
        parser = self.cfg.parser()
        layers = [parser.parse_args(self.cfg.get_cmd_args_from_env()), parser.parse_args(self.args)]
        for layer in layers:
            if layer.config:
                self.load_config_from_file(layer.config)
        for layer in layers:
            for key, value in vars(layer).items():
                if value is not None and key not in ("args", "config"):
                    self.cfg.set(key.lower(), value)
        for key, value in self.overrides.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        """The WSGI app, imported in each worker."""
        from cds_service.wsgi import app

        return app


def run_gunicorn(overrides: Mapping[str, Any], args: Sequence[str] = ()) -> None:
    """Serve until interrupted."""
    Server(args, overrides).run()
