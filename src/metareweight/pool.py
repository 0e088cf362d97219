"""Independent runs in worker processes (``make book JOBS=N``), with numbers that do not depend on N.

Every run goes through :func:`parallel` on one thread (torch's and BLAS's), in a worker or in
this process: PyTorch's and BLAS's results depend on the thread count in their last bits, so a
fixed count makes ``JOBS=1`` and ``JOBS=8`` write the same records.  Speed comes from workers,
one per core.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

from .cache import CacheMiss, hits_only
from .profiles import note_read, settings_read
from .settings import jobs

#: Threads of every run (torch and BLAS), serial or in a worker.
RUN_THREADS = 1


@contextmanager
def run_threads():
    """A context in which torch and BLAS run on :data:`RUN_THREADS` threads (restored after)."""
    import torch
    from threadpoolctl import threadpool_limits

    saved = torch.get_num_threads()
    torch.set_num_threads(RUN_THREADS)
    try:
        with threadpool_limits(limits=RUN_THREADS):
            yield
    finally:
        torch.set_num_threads(saved)


def _job(call):
    fn, *args = call
    with run_threads():
        return fn(*args), settings_read()


def parallel(calls, n_jobs: int | None = None, *, cached: bool = False) -> list:
    """``fn(*args)`` for every ``(fn, *args)`` of ``calls``, in order; a list of the results.

    With ``n_jobs`` (default :func:`jobs`) above 1 the calls run in that many worker processes
    (joblib's loky; large arrays are shared by memory map).  Serial or not, every call runs on
    :data:`RUN_THREADS` torch and BLAS threads (:func:`run_threads`), so the numbers do not
    depend on ``n_jobs``.  Every ``fn`` must be a module-level function
    (or a ``functools.partial`` of one); cached runs share the on-disk cache (every entry is
    written atomically).  The settings the workers read are added to this process's record.

    ``cached=True`` declares every call a cached run (its work inside :func:`cache.memo` or an
    extractor's training): the calls whose results are already cached are then read in this
    process (:func:`cache.hits_only`), and workers are started only for the others, if any (even
    for one: it then runs on a worker's threads, as it would among others).  A warm rebuild with
    ``JOBS=2`` starts no worker at all.
    """
    calls = [tuple(c) for c in calls]
    n_jobs = jobs() if n_jobs is None else n_jobs
    if n_jobs <= 1 or len(calls) <= 1:
        with run_threads():
            return [fn(*args) for fn, *args in calls]
    results, todo = [None] * len(calls), list(range(len(calls)))
    if cached:
        todo = []
        for i, (fn, *args) in enumerate(calls):
            try:
                with hits_only(), run_threads():
                    results[i] = fn(*args)
            except CacheMiss:
                todo.append(i)
    if not todo:
        return results
    from joblib import Parallel, delayed
    from joblib.externals.loky import get_reusable_executor

    # joblib shares large arrays through a folder in /dev/shm that its resource tracker (a process
    # started with this environment) removes when the kernel exits, reporting it as "leaked" on
    # the terminal: the removal is by design, so that message alone is silenced
    os.environ.setdefault("PYTHONWARNINGS", "ignore:resource_tracker:UserWarning")
    out = Parallel(n_jobs=n_jobs, backend="loky")(delayed(_job)(calls[i]) for i in todo)
    # stop the workers now (the next call starts new ones): left running into the kernel's exit
    # they end in "leaked semlock" warnings
    get_reusable_executor().shutdown(wait=True)
    for i, (result, read) in zip(todo, out, strict=True):
        note_read(read)
        results[i] = result
    return results
