"""Text every backend can store: NUL characters and unencodable code points replaced, visibly;
and the keys no stored row can have.

PostgreSQL refuses a NUL character in text, and neither backend can encode a lone surrogate
(what undecodable bytes become under Python's surrogateescape). One such character in a job's
output made a whole batch of run updates fail, again at every retry, so no run got a final
status again. The store therefore cleans every free text it writes for runs: NUL becomes
U+2400 (the visible symbol for NUL), a lone surrogate becomes U+FFFD.
"""

from __future__ import annotations

import re

NUL_SYMBOL = "\u2400"
REPLACEMENT = "\ufffd"

# The only str characters UTF-8 cannot encode.
_SURROGATES = re.compile("[\ud800-\udfff]")


def storable_text(text: str | None) -> str | None:
    """`text` with NUL and unencodable characters replaced (None stays None)."""
    if text is None:
        return None
    if "\x00" in text:
        text = text.replace("\x00", NUL_SYMBOL)
    if text.isascii():  # the usual case, checked in C
        return text
    return _SURROGATES.sub(REPLACEMENT, text)


def holdable(key: str) -> bool:
    """Whether a key can be looked up: no NUL and no lone surrogate. Neither is in any stored
    key, and a query holding one fails on PostgreSQL (NUL) or on both backends (a surrogate),
    so a lookup by such a key (a job id in a URL, a username in a body) finds nothing instead.
    """
    return storable_text(key) == key
