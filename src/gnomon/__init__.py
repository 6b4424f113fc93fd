"""gnomon: a self-hosted job scheduler. Importing this package starts nothing.

`gnomon.Scheduler` runs gnomon inside an application (see gnomon.embedded).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Scheduler", "__version__"]

if TYPE_CHECKING:
    from gnomon.embedded import Scheduler


def __getattr__(name: str) -> Any:
    # Lazy, so that `import gnomon` loads no database driver and starts nothing.
    if name == "Scheduler":
        from gnomon.embedded import Scheduler

        return Scheduler
    raise AttributeError(f"module 'gnomon' has no attribute {name!r}")
