"""Where work units run: in this process, or on Dask (a local cluster or a scheduler address).

Both yield results in submission order, so a replay's output is the same whichever runs it.
Dask gets a bounded window of units in flight: the driver never holds the population.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    """Runs `fn(item, *args)` for each item; results come back in input order."""

    name: str

    @property
    def workers(self) -> int:
        """Processes doing the work."""
        ...

    def map_ordered(self, fn: Callable[..., R], items: Iterable[T], *args: Any) -> Iterator[R]:
        """Results in the order of `items`."""
        ...


class SerialExecutor:
    """Runs units in the calling process, one after another (debugging, profiling, small runs)."""

    name = "serial"

    @property
    def workers(self) -> int:
        """One: this process."""
        return 1

    def map_ordered(self, fn: Callable[..., R], items: Iterable[T], *args: Any) -> Iterator[R]:
        """Results as they are computed."""
        for item in items:
            yield fn(item, *args)


@dataclass
class DaskExecutor:
    """A Dask cluster: `local(n)` starts n single-threaded worker processes on loopback."""

    client: Any  # distributed.Client (typed Any: distributed ships no complete type hints)
    cluster: Any = None  # the LocalCluster we started, closed with us
    name: str = "dask"
    window_per_worker: int = 4
    _owned: bool = field(default=False, repr=False)

    @classmethod
    def local(cls, workers: int) -> DaskExecutor:
        """A LocalCluster of `workers` processes, one thread each (the rules are pure Python)."""
        import dask
        from distributed import Client, LocalCluster

        # Send every submitted unit to a worker at once (the window bounds them): a worker
        # then starts its next unit without waiting a scheduler round trip.
        with dask.config.set({"distributed.scheduler.worker-saturation": "inf"}):
            cluster = LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                silence_logs=logging.WARNING,
            )
        client = Client(cluster)  # type: ignore[no-untyped-call]
        return cls(client, cluster, name=f"dask-local-{workers}", _owned=True)

    @classmethod
    def connect(cls, address: str) -> DaskExecutor:
        """An existing scheduler; its workers need this package and the input files' paths."""
        from distributed import Client

        client = Client(address)  # type: ignore[no-untyped-call]
        return cls(client, name="dask-scheduler", _owned=True)

    @property
    def workers(self) -> int:
        """Worker processes known to the scheduler now."""
        return len(self.client.scheduler_info(n_workers=-1)["workers"])

    def map_ordered(self, fn: Callable[..., R], items: Iterable[T], *args: Any) -> Iterator[R]:
        """Submit a bounded window of units; yield the oldest result first."""
        window: deque[Any] = deque()
        limit = max(2, self.window_per_worker * max(1, self.workers))
        for item in items:
            window.append(self.client.submit(fn, item, *args, pure=False))
            if len(window) >= limit:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()

    def close(self) -> None:
        """Close the client, and the cluster if we started it."""
        if self._owned:
            self.client.close()
            if self.cluster is not None:
                self.cluster.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
