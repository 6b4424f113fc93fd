"""Job targets for the benchmarks."""


def noop() -> None:
    """Does nothing: the benchmarks measure the scheduler, not the job."""
