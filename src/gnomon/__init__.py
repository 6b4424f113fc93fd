"""gnomon: a self-hosted job scheduler. Importing this package starts nothing.

`gnomon.Scheduler` runs gnomon inside an application (see gnomon.embedded); `gnomon.Events` and
`gnomon.RunEvent` are what its listeners get (see gnomon.events).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gnomon.events import Events, RunEvent

__version__ = "0.1.0"
__all__ = ["Events", "RunEvent", "Scheduler", "__version__"]

if TYPE_CHECKING:
    from gnomon.embedded import Scheduler


def __getattr__(name: str) -> Any:
    # Lazy, so that `import gnomon` loads no database driver and starts nothing.
    if name == "Scheduler":
        from gnomon.embedded import Scheduler

        return Scheduler
    raise AttributeError(f"module 'gnomon' has no attribute {name!r}")
