"""Run a function over an untrusted file in a child process with CPU, wall-time and memory limits.

The readers below MNE, nibabel and scipy were written for trusted files. A
crafted upload can make one loop for ever, unpack gigabytes or crash the
interpreter; in the dashboard's process that would stop the server for every
user. :func:`run_limited` runs the reading in a child process instead:

* the child sets its own limits with :func:`resource.setrlimit` before it
  touches the file: ``RLIMIT_CPU`` (processing seconds), ``RLIMIT_AS`` (its
  address space may grow by at most ``memory_mb`` beyond what it started
  with) and no core dumps;
* the parent waits at most ``wall_s`` seconds and kills the child after that
  (a child blocked on I/O uses no CPU time);
* the child answers with JSON over a pipe, never a pickle: a child that a
  crafted file subverted can at worst send a wrong answer, not code. Errors
  come back as the name of an :class:`~rehab_core.io.errors.InputError`
  subclass (or of a built-in exception) and its message;
* a child that was killed, timed out or ran out of memory becomes one
  :class:`~rehab_core.io.errors.ResourceLimitError` sentence.

Children are forked from a ``forkserver`` process (started once, with
NumPy, MNE, nibabel and SciPy imported), not from the caller: forking the
multi-threaded Streamlit server itself could copy a lock another thread
holds. Inside a child, :func:`run_limited` calls the function directly (the
child's limits already apply).

Linux only (``resource`` and ``/proc``); elsewhere the child runs without the
CPU and memory limits, the wall-time limit still applies.
"""

from __future__ import annotations

import builtins
import json
import multiprocessing
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rehab_core.io import errors as _errors
from rehab_core.io.errors import InputError, ResourceLimitError

__all__ = ["Limits", "DEFAULT_LIMITS", "run_limited", "SandboxError", "in_sandbox"]


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed call.

    Attributes
    ----------
    cpu_s : float
        Processing (CPU) seconds the child may use.
    wall_s : float
        Seconds the parent waits before it kills the child.
    memory_mb : float
        MB (10^6 bytes) by which the child's address space may grow beyond
        its size at the start.
    """

    cpu_s: float = 60.0
    wall_s: float = 120.0
    memory_mb: float = 2048.0


DEFAULT_LIMITS = Limits()
"""The limits of an upload check: a 9-minute recording reads in about 2 s and
under 500 MB; the largest accepted (:data:`rehab_core.io.limits.MAX_SIGNAL_VALUES`)
in about 10 s and 1 GB."""

_PRELOAD = ["numpy", "scipy.io", "nibabel", "mne", "rehab_core.io"]
_MAX_REPLY_BYTES = 64 * 1024**2
_in_child = False
_context_lock = threading.Lock()


class SandboxError(RuntimeError):
    """The function failed in the child with an exception that is not an input error.

    A programming error, not a verdict on the file; the message names the
    exception type and its first line.
    """


def in_sandbox() -> bool:
    """Whether this process is a sandbox child (its limits apply to everything it runs)."""
    return _in_child


_SANDBOX_NAME = "rehab-sandbox"


def _without_main(get_preparation_data: Callable[[str], dict]) -> Callable[[str], dict]:
    """``multiprocessing.spawn.get_preparation_data`` that leaves the caller's ``__main__`` out.

    A spawned or forkserver child normally re-imports the parent's ``__main__``
    (by path or module name) before it runs its target. Inside Streamlit,
    ``__main__`` is whichever page script is running (Streamlit executes page
    scripts as ``__main__``), and under AppTest a generated temporary script:
    the child would run a page or fail to import it, before reading a byte.
    The sandbox's target is a module-level function imported by name, so its
    children need no ``__main__`` at all.
    """

    def prepare(name: str) -> dict:
        data = get_preparation_data(name)
        if name.startswith(_SANDBOX_NAME):
            data.pop("init_main_from_path", None)
            data.pop("init_main_from_name", None)
        return data

    prepare.__wrapped__ = get_preparation_data  # type: ignore[attr-defined]
    return prepare


def _context() -> multiprocessing.context.BaseContext:
    from multiprocessing import spawn

    with _context_lock:
        if not hasattr(spawn.get_preparation_data, "__wrapped__"):
            spawn.get_preparation_data = _without_main(spawn.get_preparation_data)
        if "forkserver" in multiprocessing.get_all_start_methods():
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(_PRELOAD)
            return ctx
        return multiprocessing.get_context("spawn")


def _proc_status_kb(field: str) -> int:
    """A ``VmXxx`` line of ``/proc/self/status`` in kB (0 where there is none)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _apply_limits(limits: Limits) -> None:
    try:
        import resource
    except ImportError:  # pragma: no cover - not Linux
        return
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    cpu = max(1, int(round(limits.cpu_s)))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))  # SIGXCPU, then SIGKILL
    size_kb = _proc_status_kb("VmSize")
    if size_kb:
        budget = size_kb * 1024 + int(limits.memory_mb * 1e6)
        resource.setrlimit(resource.RLIMIT_AS, (budget, budget))


def _child(
    writer: Any, func: Callable[..., Any], args: tuple, kwargs: dict, limits: Limits
) -> None:
    global _in_child
    _in_child = True
    _apply_limits(limits)
    start_kb = _proc_status_kb("VmRSS")
    try:
        reply: dict[str, Any] = {"ok": func(*args, **kwargs)}
    except InputError as err:
        reply = {"error": type(err).__name__, "message": str(err), "input": True}
    except MemoryError:
        reply = {"limit": "memory"}
    except Exception as err:  # any other failure goes back as its type and first line
        first = (str(err).strip().splitlines() or [""])[0][:300]
        reply = {"error": type(err).__name__, "message": first, "input": False}
    reply["peak_extra_mb"] = max(0, _proc_status_kb("VmHWM") - start_kb) / 1000
    try:
        payload = json.dumps(reply).encode("utf-8")
    except (TypeError, ValueError) as err:
        payload = json.dumps(
            {"error": "TypeError", "message": f"result is not JSON: {err}", "input": False}
        ).encode("utf-8")
    writer.send_bytes(payload)
    writer.close()


def _raise_reply(reply: dict[str, Any], what: str, limits: Limits) -> None:
    if reply.get("limit") == "memory":
        raise ResourceLimitError(_memory_sentence(what, limits))
    name, message = str(reply.get("error")), str(reply.get("message", ""))
    if reply.get("input"):
        cls = getattr(_errors, name, None)
        if not (isinstance(cls, type) and issubclass(cls, InputError)):
            cls = InputError
        raise cls(message)
    cls = getattr(builtins, name, None)
    if isinstance(cls, type) and issubclass(cls, Exception) and cls is not MemoryError:
        raise cls(message)
    raise SandboxError(f"{name}: {message}")


def _memory_sentence(what: str, limits: Limits) -> str:
    return (
        f"{what} needed more than {limits.memory_mb:,.0f} MB of memory to read, so reading it "
        "was stopped; expected an ordinary recording."
    )


def run_limited(
    func: Callable[..., Any],
    *args: Any,
    limits: Limits = DEFAULT_LIMITS,
    what: str = "The file",
    stats: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Any:
    """``func(*args, **kwargs)`` in a child process under ``limits``; its JSON-able result.

    Parameters
    ----------
    func : callable
        A module-level function (it is imported by name in the child) whose
        result is made of JSON types (dict, list, str, numbers, bool, None).
    *args, **kwargs
        Its arguments (sent to the child; paths rather than big buffers).
    limits : Limits
        CPU seconds, wall seconds and extra memory of the child.
    what : str
        How a refusal names the input, e.g. the file's name.
    stats : dict | None
        Filled with ``wall_s``, ``peak_extra_mb`` (the child's peak resident
        memory above its start, when it answered) and ``outcome``.

    Returns
    -------
    Any
        What ``func`` returned, as JSON gives it back (tuples become lists).

    Raises
    ------
    InputError
        The subclass ``func`` raised in the child, with its message.
    ResourceLimitError
        The child ran past a limit or was killed by a signal (one sentence).
    SandboxError
        ``func`` failed with an exception that is neither an input error nor
        a built-in exception (a built-in one is raised again as itself).
    """
    stats = {} if stats is None else stats
    if _in_child:
        stats["outcome"] = "direct"
        return func(*args, **kwargs)
    ctx = _context()
    reader, writer = ctx.Pipe(duplex=False)
    proc = ctx.Process(
        target=_child,
        args=(writer, func, args, kwargs, limits),
        daemon=True,
        name=f"{_SANDBOX_NAME}-{func.__name__}",
    )
    start = time.monotonic()
    proc.start()
    writer.close()
    payload = None
    timed_out = False
    try:
        if reader.poll(limits.wall_s):
            try:
                payload = reader.recv_bytes(_MAX_REPLY_BYTES)
            except (EOFError, OSError):
                payload = None
        else:
            timed_out = True
    finally:
        if timed_out:
            proc.kill()
        proc.join(10.0)
        if proc.is_alive():
            proc.kill()
            proc.join(10.0)
        reader.close()
        stats["wall_s"] = time.monotonic() - start
    if timed_out:
        stats["outcome"] = "wall_limit"
        raise ResourceLimitError(
            f"{what} could not be read within {limits.wall_s:g} s, so reading it was stopped; "
            "expected an ordinary recording, which reads in seconds."
        )
    if payload is None:
        code = proc.exitcode if proc.exitcode is not None else 0
        stats["outcome"] = f"signal {-code}" if code < 0 else f"exit {code}"
        if code in (-signal.SIGXCPU, -signal.SIGKILL):
            raise ResourceLimitError(
                f"{what} needed more than {limits.cpu_s:g} s of processing to read, so reading "
                "it was stopped; expected an ordinary recording."
            )
        raise ResourceLimitError(
            f"{what} made the file reader stop abruptly ({stats['outcome']}); "
            "expected a complete, undamaged recording."
        )
    reply = json.loads(payload.decode("utf-8"))
    stats["peak_extra_mb"] = reply.get("peak_extra_mb")
    if "ok" in reply:
        stats["outcome"] = "ok"
        return reply["ok"]
    stats["outcome"] = "refused"
    _raise_reply(reply, what, limits)
    raise AssertionError("unreachable")  # pragma: no cover
