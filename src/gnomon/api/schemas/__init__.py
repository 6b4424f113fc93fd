"""Request and response shapes of the API as pydantic models, for the OpenAPI document only.

Handlers build plain dicts and validate input themselves (one problem per field, SPEC §5.3);
these models describe the same shapes, and the schemathesis suite checks that they agree.
"""

from __future__ import annotations

from gnomon.api.schemas.admin import (
    Account,
    AuditEntry,
    AuditPage,
    AuditQuery,
    CsrfToken,
    DeliveryPage,
    DeliveryQuery,
    Health,
    LoginInput,
    LoginResult,
    NewToken,
    PasswordInput,
    Status,
    Token,
    TokenInput,
    UserDoc,
    UserInput,
    UserPatch,
)
from gnomon.api.schemas.envelopes import ErrorEnvelope, envelope
from gnomon.api.schemas.jobs import (
    AllRunsQuery,
    CountQuery,
    Job,
    ManualRun,
    Preview,
    PreviewInput,
    Reload,
    Run,
    RunPage,
    RunQuery,
    TriggerInput,
)
from gnomon.api.schemas.stats import (
    ChartQuery,
    DurationChartQuery,
    PercentileChartQuery,
    Stats,
    StatsQuery,
)

JobEnvelope = envelope("JobEnvelope", Job)
JobListEnvelope = envelope("JobListEnvelope", list[Job])
ManualRunEnvelope = envelope("ManualRunEnvelope", ManualRun)
ReloadEnvelope = envelope("ReloadEnvelope", Reload)
RunEnvelope = envelope("RunEnvelope", Run)
RunPageEnvelope = envelope("RunPageEnvelope", RunPage)
PreviewEnvelope = envelope("PreviewEnvelope", Preview)
StatusEnvelope = envelope("StatusEnvelope", Status)
AuditEnvelope = envelope("AuditEnvelope", AuditPage)
DeliveryPageEnvelope = envelope("DeliveryPageEnvelope", DeliveryPage)
HealthEnvelope = envelope("HealthEnvelope", Health)
StatsEnvelope = envelope("StatsEnvelope", Stats)
CsrfEnvelope = envelope("CsrfEnvelope", CsrfToken)
LoginEnvelope = envelope("LoginEnvelope", LoginResult)
MeEnvelope = envelope("MeEnvelope", UserDoc | None)
UserEnvelope = envelope("UserEnvelope", UserDoc)
AccountEnvelope = envelope("AccountEnvelope", Account)
AccountListEnvelope = envelope("AccountListEnvelope", list[Account])
EmptyEnvelope = envelope("EmptyEnvelope", None)
TokenEnvelope = envelope("TokenEnvelope", Token)
TokenListEnvelope = envelope("TokenListEnvelope", list[Token])
NewTokenEnvelope = envelope("NewTokenEnvelope", NewToken)

__all__ = [
    "AllRunsQuery",
    "AuditEntry",
    "AuditQuery",
    "ChartQuery",
    "CountQuery",
    "DeliveryQuery",
    "DurationChartQuery",
    "ErrorEnvelope",
    "Job",
    "LoginInput",
    "PasswordInput",
    "PercentileChartQuery",
    "PreviewInput",
    "Run",
    "RunQuery",
    "StatsQuery",
    "Token",
    "TokenInput",
    "TriggerInput",
    "UserInput",
    "UserPatch",
]
