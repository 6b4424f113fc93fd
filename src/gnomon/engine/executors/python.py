"""Runs a job's Python callable: resolves its target, captures its output, enforces its timeout."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import importlib
import inspect
import os
import reprlib
import threading
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gnomon.domain import JobDefinition, Run, RunStatus
from gnomon.engine.context import RunContext
from gnomon.engine.executors.base import Outcome, Stopwatch, error_type_name, secret_unavailable
from gnomon.engine.executors.environment import job_args, job_kwargs
from gnomon.engine.output import OutputBuffer, route_thread_output
from gnomon.errors import SecretUnavailable
from gnomon.store.base import Store

_MAX_RETURN_REPR = 2000
LOAD_HINT = "check the job's target and that its package is importable where the scheduler runs"


@dataclass(frozen=True)
class ResolvedTarget:
    func: Callable[..., Any]
    accepts_run: bool  # has a `run` parameter or **kwargs


@functools.lru_cache(maxsize=1024)  # failures raise and so are not cached: a fix is picked up
def resolve_target(target: str) -> ResolvedTarget:
    """Import ``"package.module:attr.path"`` and return the callable it names.

    Raises ValueError (malformed target), ImportError, AttributeError, TypeError (not callable),
    or whatever the module raised while being imported.
    """
    module_name, sep, attr_path = target.partition(":")
    if not sep or not module_name or not attr_path or ":" in attr_path:
        raise ValueError(f"target {target!r} must look like 'package.module:function'")
    obj: Any = importlib.import_module(module_name)
    owner = module_name
    for attr in attr_path.split("."):
        if not hasattr(obj, attr):
            raise AttributeError(f"{owner} has no attribute {attr!r}")
        obj, owner = getattr(obj, attr), f"{owner}.{attr}"
    if not callable(obj):
        raise TypeError(f"{target} is a {type(obj).__name__}, not a callable")
    return ResolvedTarget(obj, _accepts_run(obj))


def _accepts_run(func: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):  # some builtins have no signature: pass them no extras
        return False
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return any(
        p.kind is inspect.Parameter.VAR_KEYWORD or (p.name == "run" and p.kind in named)
        for p in params
    )


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


@dataclass
class TargetCall:
    """One call of the target, runnable in any thread; keeps what it returned or raised.

    Its thread's prints go to ``output`` (None: to the real streams, as in a child process).
    """

    func: Callable[..., Any]
    kwargs: dict[str, Any]
    output: OutputBuffer | None
    args: list[Any] = field(default_factory=list)
    result: Any = None
    error: BaseException | None = None
    # Set when the call ends; only a call run in a helper thread (with a timeout) needs one, and
    # an Event per run is measurable at thousands of runs a second.
    done: threading.Event | None = None

    def __call__(self) -> None:
        previous = route_thread_output(self.output)
        try:
            result = self.func(*self.args, **self.kwargs)
            if inspect.isawaitable(result):  # an async def target runs on its own loop
                result = asyncio.run(_await(result))
            self.result = result
        except BaseException as exc:  # a job's failure is a record
            self.error = exc
        finally:
            route_thread_output(previous)
            if self.done is not None:
                self.done.set()


def format_job_traceback(exc: BaseException) -> str:
    """The traceback of a job's exception, from the job's own code on."""
    tb = exc.__traceback__
    if tb is not None and tb.tb_next is not None:
        tb = tb.tb_next  # drop our own frame (TargetCall.__call__): start at the job's code
    return "".join(traceback.format_exception(type(exc), exc, tb))


def describe_value(value: Any) -> str:
    """A target's return value as the run's output shows it: a repr, shortened."""
    shortener = reprlib.Repr()
    shortener.maxstring = shortener.maxother = 500
    shortener.maxlist = shortener.maxtuple = shortener.maxdict = shortener.maxset = 50
    try:
        text = shortener.repr(value)
    except Exception as exc:
        text = f"<{type(value).__name__} whose repr() failed: {exc!r}>"
    return text if len(text) <= _MAX_RETURN_REPR else text[:_MAX_RETURN_REPR] + "… (truncated)"


def describe_error(exc: BaseException) -> str:
    """The error message recorded for a target's exception."""
    if isinstance(exc, SystemExit):
        return f"the callable called sys.exit({exc.code!r})"
    return str(exc) or error_type_name(exc)


def run_python(
    definition: JobDefinition,
    run: Run,
    cancel: threading.Event,
    *,
    clock: Callable[[], datetime],
    output_cap: int,
    store: Store | None = None,
    output: OutputBuffer | None = None,
    started: datetime | None = None,
) -> Outcome:
    """Call the job's target with its args and kwargs (and ``run=RunContext`` when it takes
    one); what it prints and logs goes to `output`, if given, as it comes."""
    watch = Stopwatch(clock, started)
    output = output or OutputBuffer(output_cap)
    target = definition.target or ""
    try:
        resolved = resolve_target(target)
    except Exception as exc:
        return watch.outcome(
            RunStatus.FAILED,
            output,
            error_type=error_type_name(exc),
            error_message=f"cannot load target {target!r}: {exc}; {LOAD_HINT}",
            traceback=format_job_traceback(exc),
        )
    try:
        kwargs = job_kwargs(definition, os.environ)
        args = job_args(definition, os.environ)
    except SecretUnavailable as exc:
        return secret_unavailable(watch, output, exc)
    if resolved.accepts_run and "run" not in kwargs:  # an explicit `run` kwarg wins
        kwargs["run"] = RunContext.for_run(run, output, cancel, store=store)
    call = TargetCall(resolved.func, kwargs, output, args)
    if definition.timeout is None:
        call()
        if isinstance(call.error, KeyboardInterrupt):
            raise call.error  # the operator's Ctrl-C, not the job's failure
    else:
        call.done = done = threading.Event()
        # Same thread name as the worker, so a job sees the same name with or without timeout;
        # the caller's context variables are carried over.
        helper = threading.Thread(
            target=contextvars.copy_context().run,
            args=(call,),
            name=threading.current_thread().name,
            daemon=True,
        )
        helper.start()
        if not done.wait(definition.timeout):
            cancel.set()
            asked = (
                "was asked to stop through run.cancelled"
                if "run" in kwargs
                else "takes no `run` argument, so it cannot be asked to stop"
            )
            output.write(
                f"\n[gnomon: timed out after {definition.timeout:g}s with its thread still "
                f"running; the callable {asked}, and a thread cannot be killed: it may run on "
                '(isolation = "process" runs a target where a timeout stops it)]\n'
            )
            return watch.outcome(
                RunStatus.TIMED_OUT,
                output,
                error_type="Timeout",
                error_message=(
                    f"did not finish within its timeout of {definition.timeout:g}s; "
                    "its thread was still running then"
                ),
                lingering=done,
            )
    cancelled = cancel.is_set()
    if call.error is not None:
        return watch.outcome(
            RunStatus.CANCELLED if cancelled else RunStatus.FAILED,
            output,
            error_type=error_type_name(call.error),
            error_message=describe_error(call.error),
            traceback=format_job_traceback(call.error),
        )
    if call.result is not None:
        output.write(f"return value: {describe_value(call.result)}\n")
    if cancelled:
        message = "cancelled while running; the callable returned after run.cancelled was set"
        return watch.outcome(
            RunStatus.CANCELLED, output, error_type="Cancelled", error_message=message
        )
    return watch.outcome(RunStatus.SUCCEEDED, output)
