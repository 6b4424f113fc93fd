"""What a run starts with: its process's environment (a few harmless variables of the scheduler's,
or with ``inherit_env`` all but gnomon's own, plus the job's ``env``), and the job's settings with
their secret references resolved, at the last moment and only for this run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gnomon.domain import JobDefinition
from gnomon.references import resolve, resolve_all

#: What a process needs to find programs, speak the right language and write temporary files.
#: Nothing else of the scheduler's environment is passed on by default: it holds gnomon's own
#: secrets (GNOMON_ADMIN_PASSWORD, a store URL with its password, a secret key) and whatever else
#: the service was started with, and a job's output is readable by every viewer.
PASSED_VARIABLES = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP"}
)
PASSED_PREFIXES = ("LC_",)
#: gnomon's own settings and secrets: never inherited, even with ``inherit_env``.
GNOMON_PREFIX = "GNOMON_"


def job_environment(definition: JobDefinition, scheduler_env: Mapping[str, str]) -> dict[str, str]:
    """The variables of `scheduler_env` the job may see, with the job's ``env`` on top (its
    references resolved). Raises SecretUnavailable."""
    if definition.inherit_env:
        base = {k: v for k, v in scheduler_env.items() if not k.startswith(GNOMON_PREFIX)}
    else:
        base = {
            k: v
            for k, v in scheduler_env.items()
            if k in PASSED_VARIABLES or k.startswith(PASSED_PREFIXES)
        }
    return base | {k: resolve(v, scheduler_env) for k, v in definition.env.items()}


def job_kwargs(definition: JobDefinition, scheduler_env: Mapping[str, str]) -> dict[str, Any]:
    """A fresh copy of the job's kwargs, references resolved. Raises SecretUnavailable."""
    return {k: resolve_all(v, scheduler_env) for k, v in definition.kwargs.items()}


def job_args(definition: JobDefinition, scheduler_env: Mapping[str, str]) -> list[Any]:
    """A fresh copy of the job's positional args, references resolved. Raises
    SecretUnavailable."""
    return [resolve_all(value, scheduler_env) for value in definition.args]


def job_argv(argv: Sequence[str], scheduler_env: Mapping[str, str]) -> list[str]:
    """The command's arguments, references resolved. Raises SecretUnavailable."""
    return [resolve(arg, scheduler_env) for arg in argv]
