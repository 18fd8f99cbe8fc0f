"""One background thread that runs the MERGEs, so reading the next batch overlaps writing this one.

The warehouse drivers release the GIL while they work (DuckDB's MERGE and checkpoint, BigQuery's
load job), so the main thread goes on reading and collecting records on the other core. Batches are
merged strictly in the order they were submitted (newest-wins across batches depends on it). It is
double buffering: one batch is merged while the next one fills, never more, which bounds memory. A
failed MERGE stops the writer: the error is raised in the main thread by the next ``submit`` or
``wait``, and nothing submitted after it is written.
STATE is only emitted after ``wait`` returns, so it never runs ahead of committed data.

While the worker runs, the interpreter's switch interval is 0.2 ms instead of 5 ms. DuckDB gives the
GIL up while it works but takes it back many times per MERGE (scanning the Arrow batch, returning
results); each time, it waits for the reading thread, which never blocks, to reach its switch
interval. At 5 ms those waits made the MERGEs 1.5 to 2 times slower than on an idle interpreter.
"""

from __future__ import annotations

import queue
import sys
import threading
import typing as t

_STOP = object()
#: Seconds a thread may hold the GIL while another waits for it (Python's default is 0.005).
SWITCH_INTERVAL = 0.0002


class BatchWriter:
    """Runs submitted jobs one at a time, in order, on a single worker thread."""

    def __init__(self) -> None:
        self._queue: queue.Queue = queue.Queue()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._switch_interval: float | None = None  # the interpreter's, restored by close()

    def submit(self, job: t.Callable[[], None]) -> None:
        """Start ``job`` once the previous one has finished (raising its failure, if it failed)."""
        self.wait()
        if self._thread is None:
            self._switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(min(SWITCH_INTERVAL, self._switch_interval))
            self._thread = threading.Thread(target=self._run, name="lorchestra-merge", daemon=True)
            self._thread.start()
        self._queue.put(job)

    def wait(self) -> None:
        """Return once every submitted job has finished; raise the first failure, if any."""
        if self._thread is not None:
            self._queue.join()
        self._raise_failure()

    def close(self) -> None:
        """Stop the worker after the jobs already queued (those are skipped if one failed)."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None
            if self._switch_interval is not None:  # always set when the thread was started
                sys.setswitchinterval(self._switch_interval)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is _STOP:
                    return
                if self._error is None:
                    job()
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread by _raise_failure
                self._error = exc
            finally:
                self._queue.task_done()

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error
