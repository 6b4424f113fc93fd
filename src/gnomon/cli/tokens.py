"""`gnomon tokens create|list|revoke`: API tokens for automation."""

from __future__ import annotations

import click

from gnomon.cli.options import (
    CLI_ACTOR,
    config_option,
    echo_json,
    echo_table,
    handle_errors,
    json_option,
    open_runtime,
)
from gnomon.services.tokens import TokenService, token_document


def _service() -> TokenService:
    runtime = open_runtime()
    cap = runtime.config.settings.server.token_max_lifetime
    return TokenService(runtime.store, runtime.users, max_lifetime_days=cap)


@click.group("tokens")
def tokens_group() -> None:
    """Manage API tokens (Authorization: Bearer <token>)."""


@tokens_group.command("create")
@click.option("--user", "username", required=True, help="The user the token acts as.")
@click.option("--name", default="cli", show_default=True, help="What the token is for.")
@click.option("--expires-in", "days", type=click.IntRange(1, 3650), help="Days until it expires.")
@config_option
@json_option
@handle_errors
def create_token(username: str, name: str, days: int | None, as_json: bool) -> None:
    """Create a token; it is printed this once and cannot be shown again."""
    created = _service().create_token(username, name, days, CLI_ACTOR)
    if as_json:
        echo_json({**token_document(created.token, created.username), "token": created.secret})
        return
    expiry = created.token.expires_at.isoformat() if created.token.expires_at else "never"
    click.echo(f"created token {created.token.id} for {created.username} (expires: {expiry})")
    click.echo("copy it now, it is not shown again:", err=True)
    click.echo(created.secret)


@tokens_group.command("list")
@config_option
@json_option
@handle_errors
def list_tokens(as_json: bool) -> None:
    """List tokens (never their secrets)."""
    documents = [token_document(token, name) for token, name in _service().list_tokens()]
    if as_json:
        echo_json(documents)
        return
    columns = ["id", "name", "user", "created_at", "expires_at", "revoked_at", "last_used_at"]
    echo_table(
        columns, [[str(d[c] if d[c] is not None else "-") for c in columns] for d in documents]
    )


@tokens_group.command("revoke")
@click.argument("token_id", type=int)
@config_option
@handle_errors
def revoke_token(token_id: int) -> None:
    """Revoke a token at once; requests using it are refused from then on."""
    token = _service().revoke_token(token_id, CLI_ACTOR)
    click.echo(f"token {token.id} ({token.name}) is revoked")
