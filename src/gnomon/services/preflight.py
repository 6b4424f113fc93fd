"""Whether the declared jobs can run here: each Python target imports, each command's program
and working directory exist. What `gnomon config check` adds to validating the file."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from gnomon.config import LoadedConfig
from gnomon.domain import JobDefinition, JobKind
from gnomon.engine.executors.environment import job_environment
from gnomon.engine.executors.python import resolve_target
from gnomon.errors import GnomonError, Problem
from gnomon.references import has_reference


def runnable_problems(config: LoadedConfig, env: Mapping[str, str]) -> list[Problem]:
    """One problem per enabled job that cannot start here, named `<job id>.target`,
    `<job id>.command` or `<job id>.cwd`.

    Targets are imported as the scheduler imports them (with [scheduler] python_path on
    sys.path), so their modules' import-time code runs. Programs are looked up on the PATH the
    job's process would get from `env` (this process's environment, which may not be the
    service's). A value that references a secret is resolved only when a run starts, and is
    not checked.
    """
    problems: list[Problem] = []
    with _on_path(config.python_path):
        for job in config.jobs:
            if job.cwd is not None and not has_reference(job.cwd):
                problems += _cwd_problems(job, Path(job.cwd))
            if job.kind is JobKind.PYTHON and job.target is not None:
                problems += _target_problems(job, job.target)
            elif job.command and not job.shell:
                problems += _program_problems(job, job.command, env)
    return problems


@contextmanager
def _on_path(directories: Sequence[Path]) -> Iterator[None]:
    added = [str(d) for d in reversed(directories) if str(d) not in sys.path]
    for directory in added:
        sys.path.insert(0, directory)
    try:
        yield
    finally:
        for directory in added:
            sys.path.remove(directory)


def _target_problems(job: JobDefinition, target: str) -> list[Problem]:
    try:
        resolve_target(target)
    except Exception as exc:  # whatever the module raised while being imported
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return [Problem(f"{job.id}.target", f"cannot import {target!r}: {reason}")]
    return []


def _program_problems(
    job: JobDefinition, command: Sequence[str], env: Mapping[str, str]
) -> list[Problem]:
    program = command[0]
    if has_reference(program):
        return []
    where = f"{job.id}.command"
    if "/" in program:
        path = Path(program)
        if not path.is_absolute() and job.cwd is not None and not has_reference(job.cwd):
            path = Path(job.cwd) / path  # as the process starting in cwd would find it
        if not path.is_file():
            return [Problem(where, f"program {program!r} does not exist")]
        if not os.access(path, os.X_OK):
            return [Problem(where, f"program {program!r} is not executable")]
        return []
    try:
        search = job_environment(job, env).get("PATH", os.defpath)
    except GnomonError:  # a secret in the job's env that is not there: the run will say so
        search = env.get("PATH", os.defpath)
    if shutil.which(program, path=search) is None:
        return [Problem(where, f"program {program!r} is not on the PATH ({search})")]
    return []


def _cwd_problems(job: JobDefinition, cwd: Path) -> list[Problem]:
    if not cwd.is_dir():
        return [Problem(f"{job.id}.cwd", f"{str(cwd)!r} is not a directory")]
    return []
