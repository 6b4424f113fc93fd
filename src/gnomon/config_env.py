"""gnomon's own environment variables: the GNOMON_* names it reads, and the misspelt ones.

GNOMON_<SECTION>_<KEY> overrides a setting (config.py knows them), a few more name files and
secrets, and a configuration may reference any variable as ``${env:NAME}``. Any other GNOMON_*
variable is a mistake, an unknown key by another road: ``GNOMON_SCHEDULER_TIMEZNE=UTC`` would
otherwise be ignored without a word.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping

from gnomon.errors import Problem

PREFIX = "GNOMON_"
#: The GNOMON_* variables gnomon reads besides the settings' overrides.
OTHER_VARIABLES = frozenset(
    {
        "GNOMON_CONFIG",  # the configuration file
        "GNOMON_DATA_DIR",  # data_dir
        "GNOMON_ADMIN_PASSWORD",  # the first admin's password (serve, scheduler)
        "GNOMON_SECRET_KEY",  # deploy/compose.yaml's .env: becomes GNOMON_SERVER_SECRET_KEY
    }
)
#: Left to gnomon's own test suite and benchmarks (GNOMON_TEST_PG_URL, GNOMON_BENCH_PG_URL, …).
TOOL_PREFIXES = ("GNOMON_TEST_", "GNOMON_BENCH_")
_REFERENCE = re.compile(r"\$\{env:(" + PREFIX + r"[A-Za-z0-9_]*)\}")


def referenced_variables(texts: Iterable[str]) -> set[str]:
    """The GNOMON_* variables the texts reference as ``${env:NAME}`` (secrets of jobs and
    channels): the configuration declares them, so they are not unknown."""
    return {match.group(1) for text in texts for match in _REFERENCE.finditer(text)}


def unknown_variables(
    env: Mapping[str, str], settings: Iterable[str], referenced: Iterable[str] = ()
) -> list[Problem]:
    """One problem per GNOMON_* variable of `env` that is neither a setting's override (the
    names in `settings`), nor one of OTHER_VARIABLES, nor `referenced`, nor a tool's; each
    suggests the closest known name when one is close."""
    known = set(settings) | OTHER_VARIABLES
    allowed = known | set(referenced)
    problems = []
    for name in sorted(env):
        if not name.startswith(PREFIX) or name in allowed or name.startswith(TOOL_PREFIXES):
            continue
        message = "unknown gnomon environment variable"
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.8)
        if close:
            message += f"; did you mean {close[0]}?"
        else:
            message += " (GNOMON_<SECTION>_<KEY> sets [section] key): unset it or correct it"
        problems.append(Problem(name, message))
    return problems
