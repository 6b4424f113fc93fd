"""Notifications end to end: a scheduler on a real store delivering its outbox to real receivers
(an HTTP server as webhook and as Slack endpoint, an SMTP server for email)."""

from __future__ import annotations

import hashlib
import hmac
import textwrap
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gnomon.alerts import Delivery, DeliveryStatus
from gnomon.domain import Event, RunStatus
from gnomon.services.runtime import Runtime
from gnomon.services.views import Actor
from tests.e2e.procs import wait_for
from tests.engine.notify.receivers import HttpReceiver, SmtpReceiver

SECRET = "hook-s3cret"
ENV = {"GNOMON_HOOK_SECRET": SECRET}
TESTER = Actor("tester")
QUIET = 'trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }'

# Retries come fast here: 0.2 s, doubling up to 1 s.
HEADER = """
data_dir = "data"

[server]
public_url = "https://gnomon.example.com"

[scheduler]
timezone = "UTC"
poll_interval = 0.2
shutdown_grace = 1

[[jobs]]
id = "gnomon.prune_runs"
trigger = { type = "date", run_date = "2099-01-01T00:00:00Z" }
"""
WEBHOOK = """
[[notifications]]
id = "{id}"
type = "webhook"
url = "{url}"
secret = "${{env:GNOMON_HOOK_SECRET}}"
retry_backoff = 0.2
retry_backoff_max = 1
timeout = 2
{extra}
"""

Make = Callable[[str], Runtime]


@pytest.fixture
def make_runtime(tmp_path: Path) -> Iterator[Make]:
    """Runtimes on a config written in tmp_path, with the hook secret in their environment,
    their schedulers started; all closed at the end."""
    made: list[Runtime] = []

    def make(body: str) -> Runtime:
        path = tmp_path / "gnomon.toml"
        path.write_text(HEADER + textwrap.dedent(body), encoding="utf-8")
        runtime = Runtime.from_config_file(path, env=ENV)
        runtime.prepare_store()
        made.append(runtime)
        runtime.start_scheduler()
        wait_for(runtime.jobs.scheduler_running, timeout=10, what="leadership")
        return runtime

    yield make
    for runtime in made:
        runtime.close(grace=1)


def webhook(receiver: HttpReceiver, channel: str = "ops", extra: str = "") -> str:
    return WEBHOOK.format(id=channel, url=receiver.url, extra=extra)


def deliveries(runtime: Runtime, **filters: object) -> list[Delivery]:
    return runtime.store.list_deliveries(limit=500, **filters).items  # type: ignore[arg-type]


def all_delivered(runtime: Runtime, count: int) -> list[Delivery] | None:
    found = deliveries(runtime)
    if len(found) >= count and all(d.status is DeliveryStatus.DELIVERED for d in found):
        return found
    return None


def failed_runs(runtime: Runtime, job_id: str) -> list[str]:
    page = runtime.runs.list_runs(job_id=job_id, status=RunStatus.FAILED, limit=500)
    return [run.id for run in page.items]


def run_failing(runtime: Runtime, job_id: str, times: int) -> list[str]:
    """Run the job by hand `times` times, one after the other, each to its failure."""
    for _ in range(times):
        run = runtime.jobs.run_now(job_id, TESTER)
        wait_for(
            lambda run_id=run.id: runtime.runs.get_run(run_id).status.is_final,
            timeout=10,
            what="the manual run to end",
        )
    return failed_runs(runtime, job_id)


def test_every_fire_of_a_failing_job_tells_each_channel_once(
    make_runtime: Make, tmp_path: Path
) -> None:
    with HttpReceiver().start() as hook, HttpReceiver().start() as chat, SmtpReceiver() as mail:
        runtime = make_runtime(
            webhook(hook)
            + f"""
            [[notifications]]
            id = "chat"
            type = "slack"
            url = "{chat.url}"

            [[notifications]]
            id = "mail"
            type = "email"
            to = ["ops@example.com", "oncall@example.com"]

            [smtp]
            host = "127.0.0.1"
            port = {mail.port}
            from = "gnomon@example.com"

            [[jobs]]
            id = "broken"
            name = "Broken report"
            command = ["sh", "-c", "echo working; echo 'it broke' >&2; exit 3"]
            notify = ["ops", "chat", "mail"]
            """
            + 'trigger = { type = "interval", seconds = 1 }  # fires: every fire must alert\n'
        )
        wait_for(lambda: len(failed_runs(runtime, "broken")) >= 3, 15, "three failed fires")
        runtime.jobs.pause("broken", TESTER)
        wait_for(
            lambda: not runtime.store.active_runs("broken") and runtime.scheduler is not None,
            10,
            "the last fire to end",
        )
        runs = failed_runs(runtime, "broken")
        done = wait_for(lambda: all_delivered(runtime, 3 * len(runs)), 15, "every delivery")

    assert Counter((d.run_id, d.channel) for d in done) == Counter(
        (run_id, channel) for run_id in runs for channel in ("ops", "chat", "mail")
    )
    # The webhook: one signed request per delivery, with its id, and the documented body.
    hooks = hook.requests()
    assert sorted(r.delivery for r in hooks) == sorted(d.id for d in done if d.channel == "ops")
    for request in hooks:
        expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(request.headers["x-gnomon-signature"], expected)
        assert request.headers["x-gnomon-event"] == "failed"
        body = request.json
        assert body["delivery_id"] == request.delivery
        assert body["event"] == "failed"
        assert body["job"] == {"id": "broken", "name": "Broken report"}
        assert body["run"]["id"] in runs
        assert body["run"]["status"] == "failed" and body["run"]["exit_code"] == 3
        assert body["run"]["scheduled_for"] and body["run"]["finished_at"]
        assert "it broke" in body["output_tail"]
        assert body["console_url"] == f"https://gnomon.example.com/runs/{body['run']['id']}"
    # Slack: its incoming-webhook format.
    slack = chat.requests()
    assert len(slack) == len(runs)
    assert all("Broken report (broken) failed" in r.json["text"] for r in slack)
    assert all(r.json["blocks"][0]["type"] == "section" for r in slack)
    # Email: plain text and HTML, to every address, its Message-ID from the delivery id.
    messages = mail.messages
    assert len(messages) == len(runs)
    mail_ids = {d.id for d in done if d.channel == "mail"}
    for message in messages:
        assert message["Subject"] == "gnomon: Broken report (broken) failed"
        assert message["X-Gnomon-Delivery"] in mail_ids
        assert message["Message-ID"] == f"<{message['X-Gnomon-Delivery']}@gnomon>"
        text = message.get_body(("plain",))
        html = message.get_body(("html",))
        assert text is not None and "Exit code: 3" in text.get_content()
        assert html is not None and "<table>" in html.get_content()
    assert {tuple(to) for _, to in mail.envelopes} == {("ops@example.com", "oncall@example.com")}


def test_a_job_that_fails_then_succeeds_tells_recovered_once(
    make_runtime: Make, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    broken.touch()
    with HttpReceiver().start() as hook:
        runtime = make_runtime(
            webhook(hook)
            + f"""
            [[jobs]]
            id = "flaky"
            command = ["sh", "-c", "test ! -e '{broken}'"]
            notify = ["ops"]
            """
            + 'trigger = { type = "interval", seconds = 1 }  # fires: it fails, then recovers\n'
        )

        def events() -> list[str]:
            return [r.json["event"] for r in sorted(hook.requests(), key=_occurred)]

        wait_for(lambda: "failed" in events(), 15, "a failed event")
        broken.unlink()
        wait_for(lambda: "recovered" in events(), 15, "the recovered event")
        succeeded = runtime.runs.list_runs(job_id="flaky", status=RunStatus.SUCCEEDED).items
        wait_for(
            lambda: (
                len(runtime.runs.list_runs(job_id="flaky", status=RunStatus.SUCCEEDED).items)
                >= len(succeeded) + 2
            ),
            10,
            "two more successes",
        )
        runtime.jobs.pause("flaky", TESTER)
        wait_for(lambda: all_delivered(runtime, 2), 10, "everything delivered")
        seen = events()
    assert seen.count("recovered") == 1
    assert seen[-1] == "recovered"  # the successes after it tell no one
    assert set(seen[:-1]) == {"failed"}


def _occurred(request: object) -> str:
    return str(request.json["occurred_at"])  # type: ignore[attr-defined]


def test_a_receiver_down_for_a_while_gets_every_event_once_it_is_up(make_runtime: Make) -> None:
    hook = HttpReceiver()  # not listening yet: connections are refused
    try:
        runtime = make_runtime(
            webhook(hook)
            + f"""
            [[jobs]]
            id = "broken"
            command = ["false"]
            {QUIET}
            notify = ["ops"]
            """
        )
        runs = run_failing(runtime, "broken", 3)
        tried = wait_for(
            lambda: [d for d in deliveries(runtime) if d.attempt_count >= 2] or None,
            10,
            "failed attempts",
        )
        assert "ConnectError" in (tried[0].attempts[-1].error or "")
        assert tried[0].status is DeliveryStatus.PENDING
        hook.start()
        done = wait_for(lambda: all_delivered(runtime, 3), 15, "every delivery after the outage")
    finally:
        hook.stop()
    assert sorted(d.run_id for d in done) == sorted(runs)
    arrived = Counter(r.delivery for r in hook.requests())
    # Every event arrived; any repeat carries the id of a delivery already seen.
    assert set(arrived) == {d.id for d in done}
    assert {r.json["run"]["id"] for r in hook.requests()} == set(runs)
    assert all(d.attempts[-1].status_code == 200 for d in done)
    (retried,) = [d for d in done if d.id == tried[0].id]
    assert retried.attempt_count > 2 and all(a.error for a in retried.attempts[:-1])


def test_events_left_undelivered_by_a_stopped_scheduler_are_delivered_after_restart(
    make_runtime: Make,
) -> None:
    hook = HttpReceiver()
    config = (
        webhook(hook)
        + f"""
        [[jobs]]
        id = "broken"
        command = ["false"]
        {QUIET}
        notify = ["ops"]
        """
    )
    try:
        first = make_runtime(config)
        runs = run_failing(first, "broken", 2)
        wait_for(
            lambda: all(d.attempt_count >= 1 for d in deliveries(first)) and deliveries(first),
            10,
            "a first failed attempt of each",
        )
        first.close(grace=1)
        hook.start()
        second = make_runtime(config)
        done = wait_for(lambda: all_delivered(second, 2), 15, "delivery after the restart")
    finally:
        hook.stop()
    assert sorted(d.run_id for d in done) == sorted(runs)
    assert {r.delivery for r in hook.requests()} == {d.id for d in done}


def test_a_delivery_failing_past_give_up_after_is_marked_failed(make_runtime: Make) -> None:
    with HttpReceiver().start() as hook:
        hook.status = 503
        runtime = make_runtime(
            webhook(hook, extra="give_up_after = 2")
            + f"""
            [[jobs]]
            id = "broken"
            command = ["false"]
            {QUIET}
            notify = ["ops"]
            """
        )
        run_failing(runtime, "broken", 1)
        (given_up,) = wait_for(
            lambda: deliveries(runtime, status=DeliveryStatus.FAILED), 10, "the give-up"
        )
    assert given_up.event is Event.FAILED
    assert given_up.next_attempt_at is None and given_up.finished_at is not None
    assert given_up.attempt_count >= 1  # retried until then (how often depends on the load)
    assert all(a.status_code == 503 and a.error == "HTTP 503" for a in given_up.attempts)
    assert len(hook.requests()) == given_up.attempt_count
    assert {r.delivery for r in hook.requests()} == {given_up.id}
