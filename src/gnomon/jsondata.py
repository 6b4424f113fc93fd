"""Job arguments as the store keeps them: JSON data, checked before it is stored."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from gnomon.errors import Problem, ValidationFailed


def json_arguments(
    args: Sequence[Any] | None, kwargs: Mapping[str, Any] | None
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """`args` and `kwargs` as the store keeps them and the target gets them: JSON data, tuples
    turned lists. Raises ValidationFailed naming each value that is not JSON data."""
    problems: list[Problem] = []
    if args is not None and (isinstance(args, str | bytes) or not isinstance(args, Sequence)):
        problems.append(Problem("args", f"must be a list or tuple, not {type(args).__name__}"))
        args = None
    if kwargs is not None and not isinstance(kwargs, Mapping):
        problems.append(Problem("kwargs", f"must be a dict, not {type(kwargs).__name__}"))
        kwargs = None
    plain_args = [_json_value(value, f"args[{i}]", problems) for i, value in enumerate(args or ())]
    plain_kwargs = {}
    for key, value in (kwargs or {}).items():
        if not isinstance(key, str):
            problems.append(Problem(f"kwargs[{key!r}]", "keyword names must be strings"))
            continue
        plain_kwargs[key] = _json_value(value, f"kwargs.{key}", problems)
    if problems:
        raise ValidationFailed(problems, "arguments that cannot be stored as JSON")
    return tuple(plain_args), plain_kwargs


_JSON_HINT = (
    "is not JSON data (None, bool, int, float, str, list, tuple, dict with str keys); "
    "pass what it can be rebuilt from (an id, an ISO 8601 text, a path) instead"
)


def json_problems(value: Any, where: str) -> list[Problem]:
    """What in `value` is not JSON data, each with its place under `where`."""
    problems: list[Problem] = []
    _json_value(value, where, problems)
    return problems


def _json_value(value: Any, where: str, problems: list[Problem]) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            problems.append(Problem(where, f"{value!r} is not a finite number: JSON has none"))
        return value
    if isinstance(value, list | tuple):
        return [_json_value(item, f"{where}[{i}]", problems) for i, item in enumerate(value)]
    if isinstance(value, dict):
        plain = {}
        for key, item in value.items():
            if not isinstance(key, str):
                problems.append(Problem(f"{where}[{key!r}]", "dict keys must be strings"))
                continue
            plain[key] = _json_value(item, f"{where}.{key}", problems)
        return plain
    problems.append(Problem(where, f"a {type(value).__name__} {_JSON_HINT}"))
    return None
