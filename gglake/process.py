"""How a gglake program ends: the CLI and the orchestrator's step runner leave through `leave`."""

from __future__ import annotations

import atexit
import os
import sys
import threading


def leave(code: int) -> None:
    """End the process with `code` without finalising the interpreter.

    delta-rs reads Parquet through a pyarrow PyFileSystem whose Python file objects are released by Arrow's
    worker threads after `to_pyarrow_table()` has returned. When that release races with interpreter
    finalisation, the worker's PyGILState_Ensure calls pthread_exit, the forced unwind meets a C++ noexcept
    destructor and libstdc++ aborts ("terminate called without an active exception", exit 134) after the
    command's output was written: delta-io/delta-rs#2184, pola-rs/polars#24169. So everything a normal exit
    does before finalisation is done here (join non-daemon threads, atexit handlers, flush), then os._exit.
    """
    shutdown = getattr(threading, "_shutdown", None)  # what Py_Finalize does first: thread atexits, joins
    if shutdown is not None:
        shutdown()
    atexit._run_exitfuncs()  # logging.shutdown and friends, while the interpreter is still whole
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: the interpreter reports it as 120
            code = code or 120
    os._exit(code)
