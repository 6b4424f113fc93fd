"""`gnomon users create|list|set-password|disable|end-sessions`."""

from __future__ import annotations

import click

from gnomon.cli.options import (
    config_option,
    echo_json,
    echo_table,
    handle_errors,
    json_option,
    open_runtime,
)
from gnomon.domain import Role
from gnomon.services.views import Actor

CLI_ACTOR = Actor("cli")


@click.group("users")
def users_group() -> None:
    """Manage users."""


@users_group.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@config_option
@handle_errors
def create_user(username: str, role: str, password: str) -> None:
    """Create a user (the password is prompted for when not given)."""
    user = open_runtime().users.create_user(username, Role(role), password)
    click.echo(f"created {user.role} {user.username} (id {user.id})")


@users_group.command("list")
@config_option
@json_option
@handle_errors
def list_users(as_json: bool) -> None:
    """List users."""
    users = open_runtime().users.list_users()
    rows = [
        {"id": u.id, "username": u.username, "role": u.role.value, "disabled": u.disabled}
        for u in users
    ]
    if as_json:
        echo_json(rows)
        return
    echo_table(
        ["id", "username", "role", "disabled"],
        [[str(r["id"]), str(r["username"]), str(r["role"]), str(r["disabled"])] for r in rows],
    )


@users_group.command("set-password")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@config_option
@handle_errors
def set_password(username: str, password: str) -> None:
    """Set a user's password."""
    open_runtime().users.set_password(username, password)
    click.echo(f"password of {username} changed")


@users_group.command("disable")
@click.argument("username")
@click.option("--enable", is_flag=True, help="Enable the user again instead.")
@config_option
@handle_errors
def disable_user(username: str, enable: bool) -> None:
    """Disable a user (or enable it again with --enable)."""
    user = open_runtime().users.set_disabled(username, not enable)
    click.echo(f"{user.username} is {'disabled' if user.disabled else 'enabled'}")


@users_group.command("end-sessions")
@click.argument("username")
@config_option
@handle_errors
def end_sessions(username: str) -> None:
    """End every login session of a user at once, on every worker and node.

    The user's API tokens stay valid: revoke them with `gnomon tokens revoke`.
    """
    user = open_runtime().users.end_sessions(username, CLI_ACTOR)
    click.echo(f"every session of {user.username} ended")
