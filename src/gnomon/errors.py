"""The whole gnomon exception hierarchy: every error gnomon raises on purpose is one of these."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: the field (dotted path) and what is wrong with it."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class GnomonError(Exception):
    """Root of every error gnomon raises on purpose."""


# --- bad input ---------------------------------------------------------------------------------


class ValidationFailed(GnomonError, ValueError):
    """An input has one or more problems; `problems` names each field and what is wrong."""

    def __init__(self, problems: Iterable[Problem], summary: str = "invalid input") -> None:
        self.problems = list(problems)
        self.summary = summary
        detail = "; ".join(str(p) for p in self.problems)
        super().__init__(f"{summary}: {detail}" if detail else summary)


class RunIdAmbiguous(ValidationFailed):
    """A shortened run id starts more than one run's id; `candidates` holds some of their ids."""

    def __init__(self, prefix: str, candidates: Iterable[str], more: bool) -> None:
        self.prefix = prefix
        self.candidates = list(candidates)
        self.more = more
        listed = [Problem("", run_id) for run_id in self.candidates]
        if more:
            listed.append(Problem("", "… and more"))
        super().__init__(
            listed,
            f"run id {prefix!r} is ambiguous (it starts the ids of "
            f"{'more than ' if more else ''}{len(self.candidates)} runs); give more of it",
        )


class TriggerInvalid(ValidationFailed):
    """A trigger specification (cron expression, interval, date, timezone) is not valid."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        super().__init__(problems, "invalid trigger")


class ConfigInvalid(ValidationFailed):
    """The configuration file or environment has problems; nothing was applied."""

    def __init__(self, problems: Iterable[Problem], source: str = "configuration") -> None:
        self.source = source
        super().__init__(problems, f"{source} is invalid")


# --- things that are not there -----------------------------------------------------------------


class BeatImportFailed(GnomonError, ValueError):
    """`gnomon import celery-beat`: the app could not be loaded, or has no beat_schedule."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


class NotFound(GnomonError, LookupError):
    """A named thing does not exist."""

    kind = "object"

    def __init__(self, ident: object) -> None:
        self.ident = ident
        super().__init__(f"{self.kind} {ident!r} does not exist")


class JobNotFound(NotFound):
    kind = "job"


class RunNotFound(NotFound):
    kind = "run"


class UserNotFound(NotFound):
    kind = "user"


class TokenNotFound(NotFound):
    kind = "API token"


class ChannelNotFound(NotFound):
    kind = "notification channel"


class SecretUnavailable(GnomonError, LookupError):
    """A job's secret reference (``${env:NAME}``, ``${file:/path}``) cannot be resolved when its
    run starts. The message names the reference, never a value."""

    def __init__(self, reference: str, reason: str) -> None:
        self.reference = reference
        self.reason = reason
        super().__init__(f"secret {reference} is unavailable: {reason}")


# --- requests that conflict with the current state ---------------------------------------------


class Conflict(GnomonError):
    """The request is valid but the current state does not allow it."""


class SchedulerNotRunning(Conflict):
    def __init__(self) -> None:
        super().__init__(
            "no scheduler is running for this store; start one with 'gnomon scheduler' "
            "or 'gnomon serve'"
        )


class JobAlreadyRunning(Conflict):
    def __init__(self, job_id: str, run_id: str | None, max_instances: int) -> None:
        self.job_id = job_id
        self.run_id = run_id
        self.max_instances = max_instances
        super().__init__(
            f"job {job_id!r} already has {max_instances} run(s) in progress"
            + (f" (run {run_id})" if run_id else "")
            + "; wait for it to finish or cancel it"
        )


class JobHasNoNextRun(Conflict):
    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(
            f"job {job_id!r} has no future fire time; change its trigger before resuming it"
        )


class JobExists(Conflict):
    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"job {job_id!r} already exists; pass replace_existing=True to replace it")


class JobChanged(Conflict):
    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"job {job_id!r} was changed by someone else meanwhile; try again")


class RunNotCancellable(Conflict):
    def __init__(self, run_id: str, status: str) -> None:
        self.run_id = run_id
        self.status = status
        super().__init__(f"run {run_id} is {status} and can no longer be cancelled")


class UserExists(Conflict):
    def __init__(self, username: str) -> None:
        self.username = username
        super().__init__(f"user {username!r} already exists")


class LastAdmin(Conflict):
    def __init__(self, username: str) -> None:
        self.username = username
        super().__init__(
            f"user {username!r} is the last enabled admin; make another user admin first"
        )


# --- permission --------------------------------------------------------------------------------


class JobNotEditable(GnomonError):
    """The job's trigger cannot be changed (ad-hoc job, or declared with `locked = true`)."""

    def __init__(self, job_id: str, reason: str) -> None:
        self.job_id = job_id
        self.reason = reason
        super().__init__(f"job {job_id!r} cannot be edited: {reason}")


class AuthError(GnomonError):
    """Authentication or authorisation failed."""


class InvalidCredentials(AuthError):
    def __init__(self) -> None:
        super().__init__("wrong username or password")


class AccountDisabled(AuthError):
    def __init__(self, username: str) -> None:
        self.username = username
        super().__init__(f"user {username!r} is disabled; ask an administrator to enable it")


class LoginThrottled(AuthError):
    """Too many failed logins; `retry_after` says in how many seconds to try again."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"too many failed attempts; try again in {retry_after} seconds")


class LoginBusy(AuthError):
    """Every password-hash slot of this process is busy: the login was refused unchecked (and
    not counted as a failure); `retry_after` says in how many seconds to try again."""

    def __init__(self, retry_after: int = 1) -> None:
        self.retry_after = retry_after
        super().__init__(f"too many logins are being checked; try again in {retry_after} seconds")


class PermissionDenied(AuthError):
    def __init__(self, permission: str) -> None:
        self.permission = permission
        super().__init__(f"this action needs the {permission!r} permission")


# --- infrastructure ----------------------------------------------------------------------------


class StoreError(GnomonError):
    """The store could not do what was asked (unreachable, not migrated, …)."""


#: What makes a store at an older schema revision ready.
UPGRADE_REMEDY = "run 'gnomon db upgrade'"


class StoreNotReady(StoreError):
    def __init__(self, detail: str, remedy: str = UPGRADE_REMEDY) -> None:
        self.detail = detail
        self.remedy = remedy
        super().__init__(f"the store is not ready: {detail}; {remedy}")


class StoreSchemaNewer(StoreNotReady):
    """A newer gnomon migrated the store: this one does not know its schema revision."""

    def __init__(self, revision: str, newest: str) -> None:
        self.revision = revision
        super().__init__(
            f"its schema revision {revision} is newer than this gnomon knows ({newest})",
            "a newer gnomon migrated it: upgrade this installation (or restore a backup taken "
            "before the migration)",
        )
