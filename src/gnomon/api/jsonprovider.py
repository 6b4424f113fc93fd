"""Flask's JSON answers encoded with orjson: the job list is ~700 kB of JSON for 1,000 jobs.

The bytes are what Flask's own provider writes with `ensure_ascii=False` and compact
separators, and values the standard library cannot encode go through Flask's `default` as
before (dates as HTTP dates, dataclasses, UUIDs, decimals).
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response
from flask.json.provider import DefaultJSONProvider
from werkzeug.sansio.response import Response as BaseResponse

# Hand datetimes and dataclasses to Flask's `default` instead of orjson's own formats, and
# encode non-string keys as the standard library does.
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_OPTIONS |= orjson.OPT_NON_STR_KEYS


class OrjsonProvider(DefaultJSONProvider):
    """DefaultJSONProvider whose JSON answers orjson encodes; `dumps` (sessions) and decoding
    stay the standard library's."""

    def response(self, *args: Any, **kwargs: Any) -> BaseResponse:
        if not self._compact_utf8:
            return super().response(*args, **kwargs)
        body = self._encode(self._prepare_response_obj(args, kwargs)) + b"\n"
        return Response(body, mimetype=self.mimetype)  # the app's response_class is Flask's

    def fragment(self, obj: Any) -> Any:
        """`obj` encoded once, to embed as is in later answers (a cached part of one); `obj`
        itself when answers are pretty-printed or ASCII-only, which orjson does not write."""
        return orjson.Fragment(self._encode(obj)) if self._compact_utf8 else obj

    @property
    def _compact_utf8(self) -> bool:
        pretty = self.compact is False or (self.compact is None and self._app.debug)
        return not pretty and not self.ensure_ascii

    def _encode(self, obj: Any) -> bytes:
        options = _OPTIONS | orjson.OPT_SORT_KEYS if self.sort_keys else _OPTIONS
        try:
            return orjson.dumps(obj, default=self.default, option=options)
        except orjson.JSONEncodeError:
            # Integers beyond 64 bits and the like: the standard library's answer (or error).
            return super().dumps(obj, separators=(",", ":")).encode("utf-8")
