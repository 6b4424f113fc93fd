"""The configurations the tests write fire no job by themselves at some time of day.

A job that fires while its test does not expect it makes the test depend on the wall clock:
the shipped `gnomon.prune_runs` (daily at 04:00) failed the multi-node checks of any run that
spanned 04:00 UTC. This reads every string literal of the test and bench modules (f-strings
with their `{...}` fields left in), finds the TOML job triggers in them and computes each one's
fire times with gnomon's own config and trigger code. A trigger passes when it cannot fire
before 2090, when gnomon rejects it, or when its job is disabled; any other trigger needs a
`# fires: <why>` comment on its line (in the TOML or after the Python string), naming why its
tests want it to fire. A trigger the check cannot read (a `{...}` field in it, a
`[jobs.trigger]` table) fails, so that nothing slips past unread.

A literal with a `[scheduler]` table is taken for a whole configuration (with the other
literals of its statement, when it is built from pieces): unless gnomon rejects it, it must
keep the shipped jobs quiet too, declaring them with a trigger that passes or `enabled = false`.

Not read: triggers written as Python dicts (API bodies, `update_trigger` calls). Those are
changes a test makes while it runs, next to the assertions that depend on them.
"""

from __future__ import annotations

import ast
import re
import textwrap
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gnomon.config import JobDeclaration, SchedulerSettings, Settings, declared_jobs
from gnomon.errors import ConfigInvalid
from gnomon.jobs import shipped_declarations
from gnomon.triggers import load_trigger

ROOT = Path(__file__).resolve().parent.parent
# Modules that parse triggers or load configs at fixed instants and never start a scheduler.
NO_SCHEDULER = ("tests/triggers/", "tests/config/")
THIS = "tests/test_test_configs.py"
SCHEDULER_WORDS = ("start_scheduler", "Scheduler(", "Process(", "console_server", '"scheduler"')
QUIET_UNTIL = datetime(2090, 1, 1, tzinfo=UTC)
FIRES_MARK = re.compile(r"#\s*fires:\s*\S")
TRIGGER_LINE = re.compile(r"trigger\s*=")
UNREADABLE_FORM = re.compile(r"(\[+\s*jobs\s*\.\s*trigger\b|trigger\s*\.)")
DISABLED = re.compile(r"enabled\s*=\s*false\b")
SHIPPED_IDS = [declaration["id"] for declaration in shipped_declarations(30)]


@dataclass
class Findings:
    problems: list[str]
    triggers: int = 0  # triggers read
    marked: int = 0  # of those, marked `# fires:`


def literals(tree: ast.Module) -> Iterator[tuple[ast.expr, str]]:
    """Every string literal with its text; an f-string's fields stay in as `{expression}`."""
    inner: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = ""
            for value in node.values:
                inner.add(id(value))
                if isinstance(value, ast.Constant):
                    text += str(value.value)
                elif isinstance(value, ast.FormattedValue):
                    text += "{" + ast.unparse(value.value) + "}"
            yield node, text
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in inner:
            yield node, node.value


def tables(text: str) -> list[list[str]]:
    """The text's lines, cut before every table header (`[scheduler]`, `[[jobs]]`, ...)."""
    cut: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.strip().startswith("["):
            cut.append([])
        cut[-1].append(line.strip())
    return cut


def first_fire(table: dict[str, Any], timezone: str, now: datetime) -> datetime | None:
    """When a job with this `trigger` table (in a config whose scheduler runs in `timezone`)
    first fires after `now`, computed by gnomon's config and trigger code; None when it never
    does or gnomon rejects it."""
    try:
        settings = Settings(
            scheduler=SchedulerSettings(timezone=timezone),
            jobs=[JobDeclaration(id="probe", command=["true"], trigger=table)],
        )
        [probe] = [job for job in declared_jobs(settings, "probe") if job.id == "probe"]
    except (ValidationError, ConfigInvalid):
        return None
    return load_trigger(probe.trigger).next_fire_time(now)


def scheduler_timezone(text: str) -> str:
    """The `[scheduler] timezone` the literal sets, else gnomon's default."""
    for table in tables(text):
        if table and table[0] == "[scheduler]":
            for line in table:
                if match := re.fullmatch(r'timezone\s*=\s*"([^"]+)".*', line):
                    return match.group(1)
    return SchedulerSettings().timezone


def line_of(source: list[str], node: ast.expr, text: str, seen: dict[str, int]) -> int:
    """The source line holding `text` inside the literal `node` (its n-th such line the n-th
    time it is asked for)."""
    end = node.end_lineno or node.lineno
    found = [n for n in range(node.lineno, end + 1) if text in source[n - 1]]
    index = seen.get(text, 0)
    seen[text] = index + 1
    return found[min(index, len(found) - 1)] if found else node.lineno


def check_source(source: str, name: str, now: datetime) -> Findings:
    findings = Findings(problems=[])
    lines = source.splitlines()
    tree = ast.parse(source)
    found = list(literals(tree))
    for node, text in found:
        seen: dict[str, int] = {}
        timezone = scheduler_timezone(text)
        for table in tables(text):
            disabled = any(DISABLED.match(line) for line in table)
            for line in table:
                if UNREADABLE_FORM.match(line):
                    number = line_of(lines, node, line, seen)
                    findings.problems.append(f"{name}:{number}: write the trigger inline: {line}")
                elif TRIGGER_LINE.match(line):
                    number = line_of(lines, node, line, seen)
                    where = f"{name}:{number}"
                    source_line = lines[number - 1]
                    check_trigger(findings, where, line, source_line, disabled, timezone, now)
    # A configuration may be built from several literals (a list of lines, a header and a
    # body): its text is that of every literal in the statement that holds the `[scheduler]`.
    statement_of: dict[int, ast.stmt] = {}
    for statement in ast.walk(tree):
        if isinstance(statement, ast.stmt):
            for child in ast.walk(statement):
                statement_of[id(child)] = statement  # inner statements come later: they win
    for node, text in found:
        if not any(line.strip() == "[scheduler]" for line in text.splitlines()):
            continue
        number = line_of(lines, node, "[scheduler]", {})
        statement = statement_of[id(node)]
        parts = sorted(
            (other.lineno, other.col_offset, other_text)
            for other, other_text in found
            if statement_of[id(other)] is statement
        )
        config = "\n".join(part for _, _, part in parts)
        check_shipped_jobs(findings, f"{name}:{number}", config, now)
    return findings


def check_trigger(
    findings: Findings,
    where: str,
    line: str,
    source_line: str,
    disabled: bool,
    timezone: str,
    now: datetime,
) -> None:
    findings.triggers += 1
    if FIRES_MARK.search(source_line):
        findings.marked += 1
        return
    try:
        table = tomllib.loads(line)["trigger"]
    except (tomllib.TOMLDecodeError, KeyError):
        findings.problems.append(f"{where}: cannot read this trigger; write it out: {line}")
        return
    fire = None if disabled else first_fire(table, timezone, now)
    if fire is not None and fire < QUIET_UNTIL:
        findings.problems.append(
            f"{where}: fires by itself (first at {fire:%Y-%m-%d %H:%M} UTC): {line}\n"
            "    give it a trigger that cannot fire during a test (e.g. a date in 2099), or "
            "mark it `# fires: <why>` if its tests want it to fire"
        )


def check_shipped_jobs(findings: Findings, where: str, text: str, now: datetime) -> None:
    """The shipped jobs of a whole configuration are declared quiet."""
    try:
        raw = tomllib.loads(textwrap.dedent(text))
    except tomllib.TOMLDecodeError:
        raw = None  # an f-string with fields: read it line by line
    if raw is not None:
        try:
            jobs = declared_jobs(Settings.model_validate(raw), "config")
        except (ValidationError, ConfigInvalid):
            return  # gnomon refuses this configuration: nothing in it can fire
        for job in jobs:
            fire = load_trigger(job.trigger).next_fire_time(now)
            if job.id in SHIPPED_IDS and fire is not None and fire < QUIET_UNTIL:
                findings.problems.append(
                    f"{where}: this configuration leaves the shipped job {job.id} firing "
                    f"(first at {fire:%Y-%m-%d %H:%M} UTC): declare it with a quiet trigger"
                )
        return
    for job_id in SHIPPED_IDS:
        declared = [t for t in tables(text) if f'id = "{job_id}"' in t]
        if not any(DISABLED.match(x) or TRIGGER_LINE.match(x) for t in declared for x in t):
            findings.problems.append(
                f"{where}: this configuration leaves the shipped job {job_id} firing: "
                "declare it with a quiet trigger"
            )


def modules() -> list[Path]:
    found = sorted((ROOT / "tests").rglob("*.py")) + sorted((ROOT / "bench").rglob("*.py"))
    left_out = (*NO_SCHEDULER, THIS)
    return [p for p in found if not str(p.relative_to(ROOT)).startswith(left_out)]


def test_no_test_configuration_fires_a_job_by_itself() -> None:
    now = datetime.now(UTC)
    total = Findings(problems=[])
    for path in modules():
        found = check_source(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)), now)
        total.problems += found.problems
        total.triggers += found.triggers
        total.marked += found.marked
    assert not total.problems, "\n".join(total.problems)
    # The scan really read the fixtures: dozens of triggers, a few of them meant to fire.
    assert total.triggers >= 40 and 0 < total.marked < total.triggers / 2, total


def test_modules_left_out_start_no_scheduler() -> None:
    for prefix in NO_SCHEDULER:
        for path in ROOT.glob(f"{prefix}**/*.py"):
            text = path.read_text(encoding="utf-8")
            assert not [word for word in SCHEDULER_WORDS if word in text], path


def test_the_check_flags_a_daily_job_an_unread_trigger_and_a_loud_shipped_job() -> None:
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    quiet = 'trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }'
    shipped = f'[[jobs]]\nid = "gnomon.prune_runs"\n{quiet}\n'
    source = (
        f'A = """\n[scheduler]\ntimezone = "UTC"\n{shipped}\n[[jobs]]\nid = "a"\n'
        'command = ["true"]\ntrigger = { type = "cron", expression = "0 4 * * *" }\n"""\n'
        'B = """\n[scheduler]\ntimezone = "UTC"\n"""\n'
        "C = f'trigger = {{ type = \"interval\", seconds = {n} }}'\n"
        "D = 'trigger = { type = \"interval\", seconds = 1 }'  # fires: the test counts runs\n"
        "E = '[[jobs]]\\nenabled = false\\ntrigger = { type = \"interval\", seconds = 1 }'\n"
        f"F = '{quiet}'\n"
    )
    findings = check_source(source, "m.py", now)
    assert len(findings.problems) == 3, findings.problems
    daily, loud, unread = sorted(findings.problems)
    assert daily.startswith("m.py:11: fires by itself (first at 2026-06-02 04:00 UTC)"), daily
    assert loud.startswith("m.py:14: this configuration leaves the shipped job gnomon.prune_runs")
    assert unread.startswith("m.py:17: cannot read this trigger"), unread
    assert (findings.triggers, findings.marked) == (6, 1)
