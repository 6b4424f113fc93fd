"""What a notification says: the webhook's JSON document, Slack's message, the email."""

from __future__ import annotations

from datetime import timedelta

from gnomon.alerts import Channel, ChannelKind
from gnomon.domain import Event, RunStatus
from gnomon.engine.notify.mail import email_message
from gnomon.engine.notify.notice import OUTPUT_TAIL_BYTES, Notice
from gnomon.engine.notify.slack import slack_message
from gnomon.engine.notify.webhook import signature
from tests.engine.targets import T0, new_run

RUN = new_run("backup").replace(
    status=RunStatus.FAILED,
    started_at=T0,
    finished_at=T0 + timedelta(seconds=3),
    duration_ms=3000,
    exit_code=2,
    error_type="CommandFailed",
    error_message="the command exited with status 2:\n  disk <full>",
    output="copying…\nno space left\n",
    node="node-1",
)


def notice(**changes: object) -> Notice:
    fields: dict[str, object] = {
        "delivery_id": "d-1",
        "event": Event.FAILED,
        "job_id": "backup",
        "job_name": "Nightly backup",
        "occurred_at": T0 + timedelta(seconds=3),
        "run_id": RUN.id,
        "run": RUN,
        "public_url": "https://gnomon.example.com",
    }
    fields.update(changes)
    return Notice(**fields)  # type: ignore[arg-type]


def test_the_webhook_document_carries_the_event_job_run_error_output_and_link() -> None:
    assert notice().document() == {
        "version": 1,
        "delivery_id": "d-1",
        "event": "failed",
        "occurred_at": "2026-03-01T02:30:03+00:00",
        "job": {"id": "backup", "name": "Nightly backup"},
        "run": {
            "id": RUN.id,
            "status": "failed",
            "trigger_source": "scheduled",
            "attempt": 1,
            "retry_of": None,
            "scheduled_for": "2026-03-01T02:30:00+00:00",
            "started_at": "2026-03-01T02:30:00+00:00",
            "finished_at": "2026-03-01T02:30:03+00:00",
            "duration_ms": 3000,
            "exit_code": 2,
            "reason": None,
            "node": "node-1",
        },
        "error": "CommandFailed: the command exited with status 2: disk <full>",
        "output_tail": "copying…\nno space left\n",
        "console_url": f"https://gnomon.example.com/runs/{RUN.id}",
    }


def test_a_pruned_run_and_no_public_url_leave_what_is_known() -> None:
    document = notice(run=None, public_url=None).document()
    assert document["run"] == {"id": RUN.id}
    assert document["error"] is None and document["output_tail"] is None
    assert document["console_url"] is None


def test_the_output_tail_is_the_last_2_kib_cut_between_characters() -> None:
    long = "é" * 3000 + "the end"
    tail = notice(run=RUN.replace(output=long)).output_tail
    assert tail is not None and tail.endswith("the end")
    assert len(tail.encode()) <= OUTPUT_TAIL_BYTES
    assert len(tail.encode()) >= OUTPUT_TAIL_BYTES - 1
    assert set(tail[:-7]) == {"é"}


def test_the_signature_is_hmac_sha256_of_the_body() -> None:
    # The test vector of RFC 2104's usual example.
    assert signature("key", b"The quick brown fox jumps over the lazy dog") == (
        "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    )


def test_slack_gets_text_and_blocks_with_mrkdwn_escaped() -> None:
    message = slack_message(notice())
    assert message["text"].startswith(":red_circle: gnomon: Nightly backup (backup) failed")
    assert f"<https://gnomon.example.com/runs/{RUN.id}|Open in gnomon>" in message["text"]
    facts = message["blocks"][1]["text"]["text"]
    assert "*Exit code:* 2" in facts and "disk &lt;full&gt;" in facts
    assert message["blocks"][2]["text"]["text"].startswith("```copying")
    recovered = slack_message(notice(event=Event.RECOVERED))
    assert recovered["text"].startswith(":large_green_circle:")


def test_the_email_is_text_and_html_with_a_message_id_from_the_delivery() -> None:
    channel = Channel("mail", ChannelKind.EMAIL, to=("a@example.com", "b@example.com"))
    message = email_message(notice(), channel, "gnomon@example.com")
    assert message["To"] == "a@example.com, b@example.com"
    assert message["Message-ID"] == "<d-1@gnomon>"
    assert message["X-Gnomon-Delivery"] == "d-1"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and "Error: CommandFailed" in text.get_content()
    assert html is not None and "disk &lt;full&gt;" in html.get_content()
