"""`gnomon users create|list|set-password|disable|end-sessions`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import click

from gnomon.cli.options import (
    CLI_ACTOR,
    EXIT_INVALID,
    config_option,
    echo_json,
    echo_table,
    fail,
    handle_errors,
    json_option,
    open_runtime,
)
from gnomon.domain import Role

P = ParamSpec("P")
R = TypeVar("R")


def password_options(func: Callable[P, R]) -> Callable[P, R]:
    """`--password-stdin` and `--password P`; with neither, the password is prompted for."""
    func = click.option(
        "--password-stdin",
        "password_stdin",
        is_flag=True,
        help="Read the password from the first line of standard input (for scripts).",
    )(func)
    return click.option(
        "--password",
        help="The password. Other local users can read it in `ps` and it stays in your shell "
        "history: prefer the prompt or --password-stdin.",
    )(func)


def read_password(given: str | None, from_stdin: bool) -> str:
    """The password from the option, from standard input, or typed twice at a hidden prompt."""
    if given is not None and from_stdin:
        fail("give either --password or --password-stdin, not both", EXIT_INVALID)
    if given is not None:
        return given
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@click.group("users")
def users_group() -> None:
    """Manage users."""


@users_group.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@password_options
@config_option
@handle_errors
def create_user(username: str, role: str, password: str | None, password_stdin: bool) -> None:
    """Create a user (the password is prompted for unless given)."""
    secret = read_password(password, password_stdin)
    user = open_runtime().users.create_user(username, Role(role), secret, CLI_ACTOR)
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
@password_options
@config_option
@handle_errors
def set_password(username: str, password: str | None, password_stdin: bool) -> None:
    """Set a user's password (prompted for unless given); the user's sessions end."""
    secret = read_password(password, password_stdin)
    open_runtime().users.set_password(username, secret, CLI_ACTOR)
    click.echo(f"password of {username} changed; its sessions ended")


@users_group.command("disable")
@click.argument("username")
@click.option("--enable", is_flag=True, help="Enable the user again instead.")
@config_option
@handle_errors
def disable_user(username: str, enable: bool) -> None:
    """Disable a user (or enable it again with --enable); the user's sessions end either way."""
    user = open_runtime().users.set_disabled(username, not enable, CLI_ACTOR)
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
