"""A Dagster step worker that stops when its run process dies, instead of training on as an orphan.

Dagster's multiprocess executor (the default) runs each step in a `multiprocessing` child of the run process (start
method `spawn`). When that run process is SIGKILLed — `dagster asset materialize` killed, a run worker OOM-killed —
nothing stops the child: it keeps training, later blocks at exit on the event queue nobody reads, and keeps the
embedded PostgreSQL alive; a re-materialization then trains the same run folder at the same time (issue 9, defect 2).

`stop_with_parent()` starts a daemon thread that blocks on the parent's multiprocessing sentinel (a pipe the kernel
closes when the parent dies: no polling, no pid reuse issue). When it fires it raises KeyboardInterrupt in the main
thread — the trainer's own interrupt path then marks the session `interrupted` and releases its locks — and, should
the process not be gone `grace_seconds` later (the exit blocks on the dead parent's queue), ends it with `os._exit`.
The locks die with the process either way, so the next run resumes the checkpoints.

Outside a multiprocessing child (the in-process executor, tests, `rxt5 train`) it does nothing: a CLI whose shell
went away should keep training (nohup), and the parent of an in-process run is not Dagster's.

Measured (scripts/fault_injection.py, case `SIGKILL of the materialize parent`): the step's kernel parent is the run
process itself (spawn), so `PR_SET_PDEATHSIG` would also fire; the sentinel thread is used because it also works under
the `forkserver` start method, where the kernel parent is the fork server, not the run process.
"""

from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger(__name__)

_started = False


def stop_with_parent(grace_seconds: float = 30.0, logger: logging.Logger | None = None) -> bool:
    """Watch the multiprocessing parent of this process (see the module doc). Returns whether a watch is running."""
    global _started
    import multiprocessing

    parent = multiprocessing.parent_process()
    if parent is None:
        return False
    if _started:
        return True
    _started = True
    out = logger or log
    import signal

    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) in (
            signal.SIG_IGN, signal.SIG_DFL, None):
        # interrupt_main() does nothing while SIGINT is ignored (a worker inherits that from its parent); stopping
        # on the parent's death needs Python's own handler
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def watch() -> None:
        parent.join()  # returns when the parent's sentinel closes: the parent is gone
        out.error(f"the run process (pid {parent.pid}) is gone: stopping this step worker (pid {os.getpid()}); its "
                  "session is marked interrupted and the next run resumes from the last checkpoint")
        import _thread

        _thread.interrupt_main()
        stop = threading.Event()
        stop.wait(grace_seconds)
        os._exit(70)  # the exit was blocked (on the dead parent's event queue): leave now, the locks go with us

    threading.Thread(target=watch, name="rxt5-stop-with-parent", daemon=True).start()
    return True
