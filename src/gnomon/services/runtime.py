"""The composition root: one store, its services and (when asked) a scheduler, from a config."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from gnomon.config import GENERATED_KEY_FILE, LoadedConfig, load_config
from gnomon.domain import JobDefinition, utcnow
from gnomon.engine.celery_app import CeleryPublisher
from gnomon.engine.celery_tasks import CeleryTasks
from gnomon.engine.executors.process import preload_in_forkserver
from gnomon.engine.listener import MANUAL_RUN, RUNS, ChangeListener, ChangePublisher, libpq_url
from gnomon.engine.observe import EngineMetricsProtocol
from gnomon.engine.scheduler import Scheduler, SchedulerOptions
from gnomon.errors import StoreNotReady, StoreSchemaNewer
from gnomon.filemodes import loose_modes
from gnomon.services.jobs import JobService
from gnomon.services.notifications import NotificationService
from gnomon.services.runs import RunService
from gnomon.services.users import UserService
from gnomon.services.views import CONFIG
from gnomon.store import create_store, store_files, store_in_memory
from gnomon.store.base import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FirstUse:
    """What making a store ready for commands did: the schema revision it created the store
    at (None: it had one), and the declared jobs it registered (None: it had had jobs)."""

    created_revision: str | None
    registered: list[str] | None


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
        self._publisher_of_runs: CeleryPublisher | None = None
        # On PostgreSQL, changes reach schedulers in other processes by LISTEN/NOTIFY; on SQLite
        # they see them when they next poll the change counter (every poll_interval).
        self._changes_dsn = libpq_url(config.store_url)
        self._publisher = ChangePublisher(self._changes_dsn) if self._changes_dsn else None
        self._listener: ChangeListener | None = None
        self.jobs = JobService(
            self.store, declarations=self._declarations, clock=clock, notify=self._notify
        )
        self.runs = RunService(self.store, clock=clock, notify=self._notify_runs)
        self.users = UserService(self.store, clock=clock)
        self.notifications = NotificationService(
            self.store, config.notifications, env=self._env, clock=clock
        )
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
        return list(fresh.jobs)

    def _notify(self, what: str) -> None:
        if self.scheduler is not None:
            self.scheduler.notify(what)
        # Job writes notify in their own transaction (the store does it); a queued manual run
        # is announced here, after its commit, so the leader need not wait for its next poll.
        if what == MANUAL_RUN and self._publisher is not None:
            self._publisher.publish(MANUAL_RUN)

    def _notify_runs(self, what: str) -> None:
        """A run was changed (a cancellation requested): the node running it should look now."""
        if self.scheduler is not None:
            self.scheduler.notify(what)
        if self._publisher is not None:
            self._publisher.publish(RUNS)

    def prepare_store(self) -> None:
        """Migrate the schema to the newest revision; log a warning for each file or directory
        of gnomon's that other users of the machine may read."""
        self.store.upgrade()
        for message in loose_modes(self.private_paths()):
            log.warning("%s", message)

    def ready_for_commands(self) -> FirstUse:
        """Make the store usable by a command that reads it, as the first start would.

        A store with no schema at all (nothing ever started on it) is created, and a store on
        which no job was ever registered gets the declared jobs. A store at an older revision
        is left alone: migrating one is `gnomon db upgrade`'s, as several nodes may need the
        rolling-upgrade steps. Raises StoreNotReady (saying to run it), StoreSchemaNewer.
        """
        created: str | None = None
        try:
            self.store.check_ready()
        except StoreSchemaNewer:
            raise
        except StoreNotReady:
            if not self._has_no_schema():
                raise
            self.prepare_store()
            created = self.store.schema_revision()
        return FirstUse(created_revision=created, registered=self.register_declared_once())

    def _has_no_schema(self) -> bool:
        try:
            return self.store.schema_revision() is None
        except Exception:  # unreachable: the caller reports check_ready's own message
            return False

    def register_declared_once(self) -> list[str] | None:
        """Register the declared jobs on a store where no job was ever written, as a
        scheduler's first start does; the ids registered, or None when the store has had jobs."""
        if self.store.change_counter() != 0 or self.store.list_jobs():
            return None
        result = self.jobs.sync_declared(CONFIG, self.config.jobs)
        return result.added

    def private_paths(self) -> list[Path]:
        """What only gnomon's user should read: the data directory, the SQLite store's files and
        the secret key's file."""
        data_dir = self.config.data_dir
        paths = [data_dir, data_dir / GENERATED_KEY_FILE, *store_files(self.config.store_url)]
        if store_in_memory(self.config.store_url):
            paths = []  # an embedded scheduler's store in memory: nothing of gnomon's on disk
        key_file = self.config.settings.server.secret_key_file
        if key_file:
            paths.append(Path(key_file))
        return paths

    def start_scheduler(
        self, *, metrics: EngineMetricsProtocol | None = None, own_process: bool = False
    ) -> Scheduler:
        """Register the declared jobs (keeping their state) and start firing, reporting to
        `metrics` (the ones the API's /metrics shows) when given. `own_process`: this process
        exists to run gnomon, so the scheduler may tune its garbage collector and multiprocessing's
        forkserver."""
        self.extend_python_path()
        if own_process:
            preload_in_forkserver()  # process-isolated runs then start in a few ms
        # The configuration was read and validated moments ago, when this runtime was built:
        # register its jobs rather than reading and parsing the file a second time. (A reload
        # reads the file afresh.)
        self.jobs.sync_declared(CONFIG, self.config.jobs)
        settings = self.config.settings.scheduler
        celery = self.config.settings.celery
        broker_url = celery.broker_url
        tasks = None
        if broker_url is not None:
            tasks = CeleryTasks(broker_url, celery.result_backend, self._env, celery.track)
            # Connects on the first run sent: a broker down at start-up delays nothing else.
            self._publisher_of_runs = CeleryPublisher(broker_url)
        self.scheduler = Scheduler(
            self.store,
            SchedulerOptions(
                pool_size=settings.pool_size,
                lease_ttl=settings.lease_ttl,
                poll_interval=settings.poll_interval,
                shutdown_grace=settings.shutdown_grace,
                own_gc=own_process,
            ),
            clock=self._clock,
            metrics=metrics,
            notifications=self.config.notifications,
            env=self._env,
            publish=None if self._publisher_of_runs is None else self._publisher_of_runs.publish,
            celery_tasks=tasks,
        )
        self.scheduler.start()
        if self._changes_dsn is not None:
            self._listener = ChangeListener(self._changes_dsn, self.scheduler.notify)
            self._listener.start()
        return self.scheduler

    def extend_python_path(self) -> None:
        """Put [scheduler] python_path in front of sys.path, where job targets are looked up."""
        for directory in reversed(self.config.python_path):
            if str(directory) not in sys.path:
                sys.path.insert(0, str(directory))

    def close(self, grace: float | None = None) -> None:
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        if self.scheduler is not None:
            self.scheduler.stop(grace)
            self.scheduler = None
        if self._publisher_of_runs is not None:
            self._publisher_of_runs.close()
            self._publisher_of_runs = None
        if self._publisher is not None:
            self._publisher.close()
        self.store.close()
