"""The composition root: one store, its services and (when asked) a scheduler, from a config."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

from gnomon.config import LoadedConfig, declared_jobs, load_config
from gnomon.domain import JobDefinition, utcnow
from gnomon.engine.scheduler import Scheduler, SchedulerOptions
from gnomon.services.jobs import JobService
from gnomon.services.runs import RunService
from gnomon.services.users import UserService
from gnomon.services.views import CONFIG
from gnomon.store import create_store
from gnomon.store.base import Store

log = logging.getLogger(__name__)


class Runtime:
    """Everything one gnomon process needs, built explicitly from its configuration."""

    def __init__(
        self,
        config: LoadedConfig,
        *,
        config_source: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = utcnow,
        store: Store | None = None,
    ) -> None:
        self.config = config
        self._config_source = config_source if config_source is not None else config.path
        self._env = dict(os.environ) if env is None else dict(env)
        self.store = store or create_store(config.store_url)
        self.scheduler: Scheduler | None = None
        self.jobs = JobService(
            self.store, declarations=self._declarations, clock=clock, notify=self._notify
        )
        self.runs = RunService(self.store, clock=clock, notify=self._notify)
        self.users = UserService(self.store, clock=clock)
        self._clock = clock

    @classmethod
    def from_config_file(
        cls, path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
    ) -> Runtime:
        env = dict(os.environ) if env is None else dict(env)
        return cls(load_config(path, env), config_source=path, env=env)

    def _declarations(self) -> list[JobDefinition]:
        """Read the configuration file afresh (for reload) and return its job definitions."""
        source = self._config_source
        fresh = load_config(Path(source) if source is not None else None, self._env)
        return declared_jobs(fresh)

    def _notify(self, what: str) -> None:
        if self.scheduler is not None:
            self.scheduler.notify(what)

    def prepare_store(self) -> None:
        """Migrate the schema to the newest revision."""
        self.store.upgrade()

    def start_scheduler(self) -> Scheduler:
        """Register the declared jobs (keeping their state) and start firing."""
        for directory in reversed(self.config.python_path):
            if str(directory) not in sys.path:
                sys.path.insert(0, str(directory))
        self.jobs.sync_declared(CONFIG)
        settings = self.config.settings.scheduler
        self.scheduler = Scheduler(
            self.store,
            SchedulerOptions(
                pool_size=settings.pool_size,
                lease_ttl=settings.lease_ttl,
                poll_interval=settings.poll_interval,
                shutdown_grace=settings.shutdown_grace,
            ),
            clock=self._clock,
        )
        self.scheduler.start()
        return self.scheduler

    def close(self, grace: float | None = None) -> None:
        if self.scheduler is not None:
            self.scheduler.stop(grace)
            self.scheduler = None
        self.store.close()
