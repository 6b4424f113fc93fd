"""Secret references: the syntax checked at load time, resolution from the environment and files."""

from __future__ import annotations

from pathlib import Path

import pytest

from gnomon.errors import Problem, SecretUnavailable
from gnomon.references import reference_problems, resolve, resolve_all, setting_problems

ENV = {"DB_PASSWORD": "s3cr3t", "EMPTY": ""}


def test_env_references_are_replaced_inside_longer_strings() -> None:
    text = "postgresql://report:${env:DB_PASSWORD}@db/reports?x=${env:EMPTY}"
    assert resolve(text, ENV) == "postgresql://report:s3cr3t@db/reports?x="


def test_text_without_references_is_returned_as_it_is() -> None:
    assert resolve("$HOME ${HOME} ${PATH:-x} plain", ENV) == "$HOME ${HOME} ${PATH:-x} plain"


def test_a_doubled_dollar_writes_a_reference_literally() -> None:
    assert resolve("$${env:DB_PASSWORD} ${env:DB_PASSWORD}", ENV) == "${env:DB_PASSWORD} s3cr3t"


def test_file_references_read_the_file_without_its_final_newline(tmp_path: Path) -> None:
    secret = tmp_path / "db_password"
    secret.write_text("from a file\n")
    assert resolve(f"${{file:{secret}}}", ENV) == "from a file"


def test_a_missing_variable_names_the_reference_and_never_a_value() -> None:
    with pytest.raises(SecretUnavailable) as caught:
        resolve("user:${env:REPORT_DB_PASSWORD}", ENV)
    assert caught.value.reference == "${env:REPORT_DB_PASSWORD}"
    assert "${env:REPORT_DB_PASSWORD}" in str(caught.value)
    assert "s3cr3t" not in str(caught.value)


@pytest.mark.parametrize("name", ["absent", "dir"])
def test_an_unreadable_file_names_the_reference(tmp_path: Path, name: str) -> None:
    (tmp_path / "dir").mkdir()
    reference = f"${{file:{tmp_path / name}}}"
    with pytest.raises(SecretUnavailable) as caught:
        resolve(reference, ENV)
    assert str(caught.value).startswith(f"secret {reference} is unavailable: cannot read the file")


def test_an_oversized_file_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(b"x" * 70_000)
    with pytest.raises(SecretUnavailable, match="larger than"):
        resolve(f"${{file:{big}}}", ENV)


def test_kwargs_are_resolved_at_any_depth_into_a_copy() -> None:
    marker = object()
    kwargs = {"db": {"password": "${env:DB_PASSWORD}"}, "hosts": ["a", "${env:DB_PASSWORD}"]}
    resolved = resolve_all({**kwargs, "n": 3, "obj": marker}, ENV)
    assert resolved == {
        "db": {"password": "s3cr3t"},
        "hosts": ["a", "s3cr3t"],
        "n": 3,
        "obj": marker,
    }
    assert kwargs["db"] == {"password": "${env:DB_PASSWORD}"}  # the declaration is untouched


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("${env:}", "name an environment variable"),
        ("${env:MY-VAR}", "name an environment variable"),
        ("${env:-default}", "name an environment variable"),
        ("${file:relative/path}", "give an absolute path"),
    ],
)
def test_malformed_references_are_problems(text: str, problem: str) -> None:
    (found,) = reference_problems(f"x {text} y")
    assert found.startswith(f"{text}: {problem}")


def test_well_formed_and_escaped_references_are_no_problem() -> None:
    assert reference_problems("${env:A_1} ${file:/run/secrets/x} $${env:} ${HOME}") == []


def test_setting_problems_name_the_key_and_refuse_references_in_shell_code() -> None:
    problems = setting_problems(
        "jobs[0]",
        {"PW": "${env:}"},
        {"db": {"hosts": ["${file:x}"]}},
        "psql -W ${env:DB_PASSWORD} $${env:LITERAL}",
        True,
    )
    assert [p.field for p in problems] == [
        "jobs[0].env.PW",
        "jobs[0].kwargs.db.hosts[0]",
        "jobs[0].command[0]",
    ]
    assert "pass it through env" in problems[2].message
    assert setting_problems("j", {}, {}, ["tool", "--password", "${env:X}"], False) == []
    assert setting_problems("j", {}, {}, "echo $${env:X}", True) == []
    assert all(isinstance(p, Problem) for p in problems)
