"""The web console: server-rendered page shells whose scripts talk to the public JSON API."""

from __future__ import annotations

from flask import Flask

from gnomon.web.views import bp

__all__ = ["register_console"]


def register_console(app: Flask) -> None:
    """Serve the console at `/` (pages) and `/console/static/` (its scripts and stylesheet)."""
    app.register_blueprint(bp)
