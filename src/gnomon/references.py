"""Secret references in job settings, ``${env:NAME}`` and ``${file:/path}``: their syntax (checked
when the configuration loads) and their resolution (done only when a run starts, so a secret is
never stored, shown or logged resolved).

``$${`` writes a literal ``${``. A reference may sit inside a longer string:
``"postgresql://report:${env:REPORT_DB_PASSWORD}@db/reports"``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gnomon.errors import Problem, SecretUnavailable

#: A reference, or an escaped one (group 1 is then ``$``): kind and what follows the colon.
REFERENCE = re.compile(r"\$(\$?)\{(env|file):([^}]*)\}")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
#: A secret file larger than this is a mistake (a wrong path), not a secret.
MAX_FILE_BYTES = 64 * 1024


def reference_problems(text: str) -> list[str]:
    """What is wrong with the references written in ``text``; empty when each is well formed."""
    problems = []
    for match in REFERENCE.finditer(text):
        escaped, kind, body = match.groups()
        if escaped:
            continue
        if kind == "env" and not ENV_NAME.match(body):
            problems.append(
                f"{match.group(0)}: name an environment variable (letters, digits and _), "
                "e.g. ${env:REPORT_DB_PASSWORD}"
            )
        elif kind == "file" and not body.startswith("/"):
            problems.append(
                f"{match.group(0)}: give an absolute path, e.g. ${{file:/run/secrets/db_password}}"
            )
    return problems


def has_reference(text: str) -> bool:
    """Whether ``text`` holds a reference (not only escaped ones)."""
    return any(not m.group(1) for m in REFERENCE.finditer(text))


_SHELL_REFERENCE = (
    "a secret reference would be pasted into shell code, where quotes or spaces in the secret "
    'change the command: pass it through env (env = { DB_PASSWORD = "${env:DB_PASSWORD}" }) '
    'and write "$DB_PASSWORD" in the command'
)


def setting_problems(
    where: str,
    env: Mapping[str, str],
    kwargs: Mapping[str, Any],
    command: str | list[str] | None,
    shell: bool,
    args: Sequence[Any] = (),
) -> list[Problem]:
    """The problems of the references in a job's settings that may hold them: its env values,
    args and kwargs strings (at any depth) and command arguments. A shell command may hold
    none."""
    texts = [(f"{where}.env.{name}", value) for name, value in env.items()]
    texts += _texts(list(args), f"{where}.args")
    texts += _texts(dict(kwargs), f"{where}.kwargs")
    arguments = [command] if isinstance(command, str) else list(command or ())
    texts += [(f"{where}.command[{i}]", arg) for i, arg in enumerate(arguments)]
    problems = [Problem(field, m) for field, text in texts for m in reference_problems(text)]
    if shell:
        problems += [
            Problem(f"{where}.command[{i}]", _SHELL_REFERENCE)
            for i, arg in enumerate(arguments)
            if has_reference(arg)
        ]
    return problems


def _texts(value: Any, field: str) -> list[tuple[str, str]]:
    """The strings in ``value``, each with its dotted field path."""
    if isinstance(value, str):
        return [(field, value)]
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in _texts(v, f"{field}.{k}")]
    if isinstance(value, list | tuple):
        return [t for i, v in enumerate(value) for t in _texts(v, f"{field}[{i}]")]
    return []


def resolve(text: str, env: Mapping[str, str]) -> str:
    """``text`` with each reference replaced by its secret, read from ``env`` or the file.

    Raises SecretUnavailable naming the first reference that cannot be resolved.
    """
    if "${" not in text:
        return text
    return REFERENCE.sub(lambda match: _secret(match, env), text)


def resolve_all(value: Any, env: Mapping[str, str]) -> Any:
    """``value`` with the references in its strings resolved, through lists and dict values (a
    job's kwargs); anything else is returned as it is. Raises SecretUnavailable."""
    return _walk(value, lambda text: resolve(text, env))


def _walk(value: Any, on_text: Callable[[str], Any]) -> Any:
    # Plain data only (what TOML gives): an object of any other type, even a dict subclass or a
    # named tuple, is passed on as it is.
    if isinstance(value, str):
        return on_text(value)
    if type(value) is dict:
        return {k: _walk(v, on_text) for k, v in value.items()}
    if type(value) in (list, tuple):
        return type(value)(_walk(v, on_text) for v in value)
    return value


def _secret(match: re.Match[str], env: Mapping[str, str]) -> str:
    escaped, kind, body = match.groups()
    reference = match.group(0)
    if escaped:
        return reference[1:]
    if kind == "env":
        if not ENV_NAME.match(body):
            raise SecretUnavailable(reference, "not a valid environment variable name")
        if body not in env:
            raise SecretUnavailable(
                reference,
                f"the scheduler's environment has no variable {body}; set it where gnomon "
                "runs, or change the reference",
            )
        return env[body]
    return _read_file(reference, body)


def _read_file(reference: str, path: str) -> str:
    if not path.startswith("/"):
        raise SecretUnavailable(reference, "the path must be absolute")
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise SecretUnavailable(
            reference,
            f"cannot read the file: {exc.strerror}; check the path and that gnomon's user "
            "may read it",
        ) from None
    if len(data) > MAX_FILE_BYTES:
        raise SecretUnavailable(reference, f"the file is larger than {MAX_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretUnavailable(reference, "the file is not UTF-8 text") from None
    # Secret files (Docker, Kubernetes, systemd credentials) often end with a newline that is
    # not part of the secret.
    return text.removesuffix("\n").removesuffix("\r")
