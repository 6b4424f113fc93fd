"""Flask-APScheduler app for bench/api_latency.py: N hourly jobs, its built-in REST API, no auth."""

from __future__ import annotations

import os
import subprocess

from flask import Flask
from flask_apscheduler import APScheduler


def run_true() -> None:
    """The job: the command `true`, as gnomon's benchmark job runs it."""
    subprocess.run(["true"], check=False)


def create_app() -> Flask:
    """Called by gunicorn in its worker: the scheduler starts there, never in the master."""
    app = Flask(__name__)
    app.config["SCHEDULER_API_ENABLED"] = True
    app.config["SCHEDULER_TIMEZONE"] = "UTC"
    scheduler = APScheduler()
    scheduler.init_app(app)
    for index in range(int(os.environ.get("FAS_JOBS", "10"))):
        scheduler.add_job(
            id=f"j{index:05d}",
            func="fas_app:run_true",
            trigger="interval",
            hours=1,
            max_instances=100_000,
        )
    scheduler.start()
    return app
