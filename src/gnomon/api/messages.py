"""The API's words in English and Simplified Chinese, keyed by stable message codes."""

# Chinese text uses full-width punctuation on purpose.

from __future__ import annotations

from collections.abc import Mapping

LANGUAGES = ("en", "zh")

# code -> {lang: message}. Placeholders name attributes of the error (`{ident}`, `{job_id}` …).
ERROR_MESSAGES: Mapping[str, Mapping[str, str]] = {
    "VALIDATION_ERROR": {
        "en": "Invalid input: {summary}",
        "zh": "请求包含无效字段，详见 details。",
    },
    "CONFIG_INVALID": {
        "en": "The configuration is invalid; nothing was changed: {summary}",
        "zh": "配置无效，未做任何更改，详见 details。",
    },
    "INVALID_JSON": {
        "en": "The request body is not valid JSON: {reason}.",
        "zh": "请求体不是合法的 JSON：无法解析、嵌套层数过多，或含有孤立的代理字符。",
    },
    "BAD_REQUEST": {"en": "The request is malformed.", "zh": "请求格式错误。"},
    "NOT_FOUND": {"en": "No such resource.", "zh": "资源不存在。"},
    "JOB_NOT_FOUND": {"en": "Job {ident!r} does not exist.", "zh": "任务 {ident} 不存在。"},
    "RUN_NOT_FOUND": {"en": "Run {ident!r} does not exist.", "zh": "运行记录 {ident} 不存在。"},
    "USER_NOT_FOUND": {"en": "User {ident!r} does not exist.", "zh": "用户 {ident} 不存在。"},
    "TOKEN_NOT_FOUND": {
        "en": "API token {ident!r} does not exist.",
        "zh": "API 令牌 {ident} 不存在。",
    },
    "METHOD_NOT_ALLOWED": {
        "en": "This method is not allowed on this resource.",
        "zh": "该资源不支持此请求方法。",
    },
    "PAYLOAD_TOO_LARGE": {
        "en": "The request body is larger than 1 MiB.",
        "zh": "请求体超过 1 MiB。",
    },
    "UNSUPPORTED_MEDIA_TYPE": {
        "en": "Send the body as application/json.",
        "zh": "请以 application/json 发送请求体。",
    },
    "RATE_LIMITED": {
        "en": "Too many failed attempts; try again in {retry_after} seconds.",
        "zh": "失败次数过多，请在 {retry_after} 秒后重试。",
    },
    "LOGIN_BUSY": {
        "en": "Too many logins are being checked at once; try again in {retry_after} seconds.",
        "zh": "同时进行的登录过多，请在 {retry_after} 秒后重试。",
    },
    "SCHEDULER_NOT_RUNNING": {
        "en": "No scheduler is running for this store.",
        "zh": "当前存储没有正在运行的调度器。",
    },
    "JOB_ALREADY_RUNNING": {
        "en": "Job {job_id!r} already has {max_instances} run(s) in progress.",
        "zh": "任务 {job_id} 已有 {max_instances} 个运行中的实例。",
    },
    "JOB_HAS_NO_NEXT_RUN": {
        "en": "Job {job_id!r} has no future fire time.",
        "zh": "任务 {job_id} 没有未来的触发时间，无法恢复。",
    },
    "JOB_NOT_EDITABLE": {
        "en": "Job {job_id!r} cannot be edited: {reason}.",
        "zh": "任务 {job_id} 不允许修改（仅可修改未锁定的内置任务）。",
    },
    "JOB_EXISTS": {"en": "Job {job_id!r} already exists.", "zh": "任务 {job_id} 已存在。"},
    "JOB_CHANGED": {
        "en": "Job {job_id!r} was changed meanwhile.",
        "zh": "任务 {job_id} 已被他人修改，请重试。",
    },
    "RUN_NOT_CANCELLABLE": {
        "en": "Run {run_id} is {status} and can no longer be cancelled.",
        "zh": "运行记录 {run_id} 状态为 {status}，无法取消。",
    },
    "USER_EXISTS": {"en": "User {username!r} already exists.", "zh": "用户 {username} 已存在。"},
    "LAST_ADMIN": {
        "en": "User {username!r} is the last enabled admin; make another user admin first.",
        "zh": "用户 {username} 是最后一个启用的管理员；请先让另一个用户成为管理员。",
    },
    "CONFLICT": {
        "en": "The current state does not allow this request.",
        "zh": "当前状态不允许此操作。",
    },
    "AUTHENTICATION_REQUIRED": {"en": "Log in first.", "zh": "请先登录。"},
    "INVALID_CREDENTIALS": {"en": "Wrong username or password.", "zh": "用户名或密码错误。"},
    "TOKEN_INVALID": {
        "en": "The API token is unknown, revoked or expired.",
        "zh": "API 令牌不存在、已吊销或已过期。",
    },
    "ACCOUNT_DISABLED": {"en": "This account is disabled.", "zh": "该账户已被停用。"},
    "PERMISSION_DENIED": {
        "en": "This action needs the {permission!r} permission.",
        "zh": "此操作需要 {permission} 权限。",
    },
    "CSRF_MISSING": {
        "en": "The X-CSRFToken header is missing.",
        "zh": "缺少 X-CSRFToken 请求头。",
    },
    "CSRF_INVALID": {"en": "The CSRF token is invalid.", "zh": "CSRF 令牌无效。"},
    "CSRF_EXPIRED": {"en": "The CSRF token has expired.", "zh": "CSRF 令牌已过期。"},
    "STORE_NOT_READY": {
        "en": "The store is not reachable or its schema is not current.",
        "zh": "存储不可达或数据库结构不是最新版本。",
    },
    "STORE_UNAVAILABLE": {
        "en": "The store could not complete the request.",
        "zh": "存储无法完成该请求。",
    },
    "INTERNAL_ERROR": {
        "en": "An internal error occurred; it has been logged.",
        "zh": "服务器内部错误，已记录日志。",
    },
}

SUGGESTIONS: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "VALIDATION_ERROR": {
        "en": ("Fix the fields listed in details and send the request again.",),
        "zh": ("按 details 修正字段后重新提交。",),
    },
    "CONFIG_INVALID": {
        "en": ("Fix the configuration file (see details), then reload again.",),
        "zh": ("按 details 修正配置文件后再重新加载。",),
    },
    "INVALID_JSON": {
        "en": ("Send a JSON object, or no body at all.",),
        "zh": ("请发送 JSON 对象，或不发送请求体。",),
    },
    "NOT_FOUND": {"en": ("Check the URL.",), "zh": ("请检查 URL。",)},
    "JOB_NOT_FOUND": {
        "en": ("List the jobs with GET /api/v1/scheduler/jobs.",),
        "zh": ("可通过 GET /api/v1/scheduler/jobs 查看任务列表。",),
    },
    "METHOD_NOT_ALLOWED": {
        "en": ("See the Allow header for the methods this resource supports.",),
        "zh": ("支持的方法见 Allow 响应头。",),
    },
    "RATE_LIMITED": {"en": ("Wait, then try again.",), "zh": ("请稍后再试。",)},
    "LOGIN_BUSY": {"en": ("Wait a second, then log in again.",), "zh": ("请稍候再登录。",)},
    "SCHEDULER_NOT_RUNNING": {
        "en": ("Start one with 'gnomon scheduler' or 'gnomon serve'.",),
        "zh": ("请用 'gnomon scheduler' 或 'gnomon serve' 启动调度器。",),
    },
    "JOB_ALREADY_RUNNING": {
        "en": ("Wait for the run in progress to finish, or cancel it.",),
        "zh": ("等待当前运行结束，或取消它。",),
    },
    "JOB_HAS_NO_NEXT_RUN": {
        "en": ("Change the job's trigger before resuming it.",),
        "zh": ("请先修改任务的触发器再恢复。",),
    },
    "JOB_CHANGED": {"en": ("Reload the job and try again.",), "zh": ("刷新后重试。",)},
    "AUTHENTICATION_REQUIRED": {
        "en": ("Get a token from GET /api/v1/auth/csrf-token, then POST /api/v1/auth/login.",),
        "zh": ("先 GET /api/v1/auth/csrf-token，再 POST /api/v1/auth/login 登录。",),
    },
    "INVALID_CREDENTIALS": {
        "en": ("Check the username and password.",),
        "zh": ("请检查用户名和密码。",),
    },
    "TOKEN_INVALID": {
        "en": ("Ask an administrator for a new token (gnomon tokens create).",),
        "zh": ("请管理员创建新的令牌（gnomon tokens create）。",),
    },
    "ACCOUNT_DISABLED": {
        "en": ("Ask an administrator to enable the account.",),
        "zh": ("请联系管理员启用该账户。",),
    },
    "PERMISSION_DENIED": {
        "en": ("Ask an administrator for the needed role.",),
        "zh": ("请联系管理员授予相应角色。",),
    },
    "CSRF_MISSING": {
        "en": ("Get a token from GET /api/v1/auth/csrf-token and send it as X-CSRFToken.",),
        "zh": ("通过 GET /api/v1/auth/csrf-token 获取令牌并放入 X-CSRFToken 请求头。",),
    },
    "CSRF_INVALID": {
        "en": ("Fetch a fresh token from GET /api/v1/auth/csrf-token.",),
        "zh": ("请通过 GET /api/v1/auth/csrf-token 重新获取令牌。",),
    },
    "CSRF_EXPIRED": {
        "en": ("Fetch a fresh token from GET /api/v1/auth/csrf-token.",),
        "zh": ("请通过 GET /api/v1/auth/csrf-token 重新获取令牌。",),
    },
    "INTERNAL_ERROR": {
        "en": ("Try again later; report the error_id if it persists.",),
        "zh": ("请稍后重试；如持续出现请提供 error_id。",),
    },
}

SUCCESS_MESSAGES: Mapping[str, Mapping[str, str]] = {
    "ok": {"en": "OK", "zh": "成功"},
    "job_updated": {"en": "Trigger updated", "zh": "触发器已更新"},
    "job_paused": {"en": "Job paused", "zh": "任务已暂停"},
    "job_resumed": {"en": "Job resumed", "zh": "任务已恢复"},
    "job_started": {"en": "Run started in the background", "zh": "任务已在后台开始执行"},
    "jobs_reloaded": {"en": "Jobs reloaded from the configuration", "zh": "已从配置重新加载任务"},
    "run_cancel_requested": {"en": "Cancellation requested", "zh": "已请求取消"},
    "logged_in": {"en": "Logged in", "zh": "登录成功"},
    "logged_out": {"en": "Logged out", "zh": "已退出登录"},
    "token_created": {
        "en": "Token created; copy it now, it is not shown again",
        "zh": "令牌已创建；请立即复制，之后不再显示",
    },
    "token_revoked": {"en": "Token revoked", "zh": "令牌已吊销"},
    "sessions_ended": {"en": "Every session of the user ended", "zh": "该用户的所有会话已结束"},
    "user_created": {"en": "User created", "zh": "用户已创建"},
    "user_updated": {"en": "User updated", "zh": "用户已更新"},
    "password_set": {
        "en": "Password set; the user's sessions ended",
        "zh": "密码已设置；该用户的会话已结束",
    },
}


class _Params(dict[str, object]):
    """Leaves unknown placeholders visible instead of failing the error response."""

    def __missing__(self, key: str) -> object:
        return "?"


def error_message(code: str, lang: str, params: Mapping[str, object]) -> str:
    """The catalogue message for `code` in `lang`, filled from `params`."""
    entry = ERROR_MESSAGES.get(code) or ERROR_MESSAGES["INTERNAL_ERROR"]
    template = entry.get(lang) or entry["en"]
    try:
        return template.format_map(_Params(params))
    except (ValueError, IndexError, AttributeError):
        return template


def suggestions(code: str, lang: str) -> list[str]:
    entry = SUGGESTIONS.get(code)
    return list(entry.get(lang) or entry["en"]) if entry else []


def success_message(key: str, lang: str) -> str:
    entry = SUCCESS_MESSAGES.get(key) or SUCCESS_MESSAGES["ok"]
    return entry.get(lang) or entry["en"]
