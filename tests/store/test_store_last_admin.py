"""The last enabled admin, on SQLite and PostgreSQL: a write that would take it away is refused
in the same transaction, so two such writes at once cannot both pass."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from gnomon.domain import Role, User
from gnomon.errors import LastAdmin
from gnomon.store.sql import SqlStore
from tests.store.test_store_contract import T0


def test_the_only_enabled_admin_can_be_neither_demoted_nor_disabled(store: SqlStore) -> None:
    alice = store.add_user("alice", Role.ADMIN, "hash-a", T0)
    viewer = store.add_user("bob", Role.VIEWER, "hash-b", T0)
    for change in ({"role": Role.VIEWER}, {"disabled": True}):
        with pytest.raises(LastAdmin):
            store.update_user(dataclasses.replace(alice, **change), keep_an_admin=True)
    assert store.find_user("alice") == alice
    # Other users are not held by it, and without keep_an_admin (the CLI) it goes through.
    store.update_user(dataclasses.replace(viewer, disabled=True), keep_an_admin=True)
    demoted = store.update_user(dataclasses.replace(alice, role=Role.VIEWER))
    assert demoted.role is Role.VIEWER


def test_two_admins_demoting_each_other_at_once_leave_one_admin(store: SqlStore) -> None:
    admins = [store.add_user(name, Role.ADMIN, "hash", T0) for name in ("alice", "carol")]
    start = threading.Barrier(len(admins))
    outcomes: dict[str, str] = {}

    def demote(user: User) -> None:
        start.wait()
        try:
            store.update_user(dataclasses.replace(user, role=Role.VIEWER), keep_an_admin=True)
            outcomes[user.username] = "demoted"
        except LastAdmin:
            outcomes[user.username] = "refused"

    threads = [threading.Thread(target=demote, args=(user,)) for user in admins]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes.values()) == ["demoted", "refused"]
    left = [u for u in store.list_users() if u.role is Role.ADMIN and not u.disabled]
    assert len(left) == 1
