"""The environment a job's own process starts with: a few harmless variables of the scheduler's
(or, with ``inherit_env``, all but gnomon's own), plus the job's ``env``."""

from __future__ import annotations

from collections.abc import Mapping

from gnomon.domain import JobDefinition

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
    """The variables of `scheduler_env` the job may see, with the job's ``env`` on top."""
    if definition.inherit_env:
        base = {k: v for k, v in scheduler_env.items() if not k.startswith(GNOMON_PREFIX)}
    else:
        base = {
            k: v
            for k, v in scheduler_env.items()
            if k in PASSED_VARIABLES or k.startswith(PASSED_PREFIXES)
        }
    return base | definition.env
