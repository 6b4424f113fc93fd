"""Serve the API and the console over real HTTP for browser tests and screenshots.

    python serve_console.py CONFIG [--user NAME:ROLE:PASSWORD ...] [--no-scheduler]

Builds a Runtime from CONFIG (store migrated), creates the users, starts the scheduler unless
--no-scheduler (an API-only process: the console must then show its not-running banner), and
serves `create_app` + `register_console` with werkzeug on 127.0.0.1 and a free port. Prints
`PORT <n>` once listening; SIGTERM or SIGINT stops it cleanly.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from argon2 import PasswordHasher
from werkzeug.serving import make_server

from gnomon.api import create_app
from gnomon.domain import Role
from gnomon.services.runtime import Runtime
from gnomon.services.users import UserService
from gnomon.web import register_console


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("--user", action="append", default=[], help="NAME:ROLE:PASSWORD")
    parser.add_argument("--no-scheduler", action="store_true")
    args = parser.parse_args(argv)

    runtime = Runtime.from_config_file(args.config, env={})
    runtime.prepare_store()
    # Cheap argon2 parameters: tests log in often, and the default cost would dominate.
    runtime.users = UserService(
        runtime.store, hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
    for spec in args.user:
        name, role, password = spec.split(":", 2)
        if runtime.store.find_user(name) is None:
            runtime.users.create_user(name, Role(role), password)
    if not args.no_scheduler:
        runtime.start_scheduler()

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    app = create_app(runtime)
    register_console(app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"PORT {server.server_port}", flush=True)
    try:
        server.serve_forever()
    finally:
        runtime.close(grace=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
