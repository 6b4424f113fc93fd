"""The key signing session cookies and CSRF tokens: configured, read from a file, or generated."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from gnomon.config import GENERATED_KEY_FILE, ServerSettings
from gnomon.errors import ConfigInvalid, Problem
from gnomon.filemodes import PRIVATE_FILE, make_private_dir

MIN_LENGTH = 16


def load_secret_key(settings: ServerSettings, data_dir: Path) -> str:
    """`server.secret_key`, else the content of `server.secret_key_file`, else the key stored in
    `<data_dir>/secret_key` (created with mode 0600, in a data directory created 0700, on first
    use, so every worker and restart shares it and sessions survive restarts). Raises
    ConfigInvalid for an unusable key."""
    if settings.secret_key:
        return _checked(settings.secret_key, "server.secret_key")
    if settings.secret_key_file:
        path = Path(settings.secret_key_file)
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            problem = Problem("server.secret_key_file", f"cannot read {path}: {exc.strerror}")
            raise ConfigInvalid([problem]) from None
        return _checked(text, "server.secret_key_file")
    return _generated_key(data_dir / GENERATED_KEY_FILE)


def _checked(key: str, field: str) -> str:
    if len(key) < MIN_LENGTH:
        raise ConfigInvalid([Problem(field, f"must be at least {MIN_LENGTH} characters long")])
    return key


def _generated_key(path: Path) -> str:
    make_private_dir(path.parent)
    key = secrets.token_hex(32)
    try:
        # O_EXCL: when several workers start together exactly one writes the key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        return _read_existing(path)
    os.fchmod(fd, PRIVATE_FILE)  # os.open's mode is masked by the umask
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    return key


def _read_existing(path: Path) -> str:
    text = path.read_text(encoding="utf-8").strip()
    if not text:
        # Another worker created the file but has not written it yet.
        for _ in range(50):
            time.sleep(0.02)
            text = path.read_text(encoding="utf-8").strip()
            if text:
                break
    return _checked(text, str(path))
