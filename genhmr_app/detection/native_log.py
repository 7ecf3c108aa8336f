"""A quiet console: MediaPipe's native log lines are dropped unless the user asks for them.

MediaPipe and LiteRT log from C++ straight to file descriptor 2 ("Sparsity tensors may not yet be fully
supported" on every inference, accelerator registration, glog's W0000 lines), so Python's logging
cannot silence them and no environment variable reaches LiteRT's logger. Here fd 2 becomes a pipe; a
daemon thread forwards every line to the real stderr except those that match the native patterns.
Python's own messages and tracebacks pass through unchanged. faulthandler writes to the original stderr
directly, so a hard crash still shows its report even though the forwarding thread dies with it.
"""

from __future__ import annotations

import atexit
import faulthandler
import os
import re
import sys
import threading

NATIVE_LINE = re.compile(
    rb"^(?:(?:INFO|WARNING|ERROR): \[[\w./-]+\.cc:\d+\]"  # LiteRT: "INFO: [environment.cc:36] ..."
    rb"|[IWE]\d{4} [\d:.]+\s+\d+ [\w./-]+\.cc:\d+\]"  # glog/absl: "W0000 00:00:... file.cc:123] ..."
    rb"|WARNING: Logging before InitGoogle\(\)"
    rb"|INFO: Created TensorFlow Lite XNNPACK delegate)"
)

_installed = False
_SENTINEL = b"\x00genhmr-native-log-drained\x00"
_drained = threading.Event()


def quiet_native_logs() -> None:
    """Filter fd 2 for the rest of the process (idempotent). Safe to call before MediaPipe loads."""
    global _installed
    if _installed or os.name != "posix":
        return
    try:
        sys.stderr.flush()
        real = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
    except OSError:
        return  # no fd 2 to filter (e.g. a detached service): nothing to do
    faulthandler.enable(file=os.fdopen(os.dup(real), "w"), all_threads=True)
    thread = threading.Thread(target=_forward, args=(read_end, real), name="native-log-filter", daemon=True)
    thread.start()
    atexit.register(_drain)
    _installed = True


def _drain(timeout_s: float = 2.0) -> None:
    """At exit, wait until everything written so far has been forwarded (the last error message of a
    command must not die in the pipe with the daemon thread)."""
    try:
        sys.stderr.flush()
        os.write(2, _SENTINEL + b"\n")
    except OSError:
        return
    _drained.wait(timeout_s)


def _forward(read_end: int, real: int) -> None:
    pending = b""
    while True:
        try:
            chunk = os.read(read_end, 65536)
        except OSError:
            return
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        if _SENTINEL in lines:
            _drained.set()
            lines = [line for line in lines if line != _SENTINEL]
        out = b"".join(line + b"\n" for line in lines if not NATIVE_LINE.match(line))
        if out:
            _write_all(real, out)
        # A progress bar redraws with "\r" and no newline: pass an unfinished line on at once.
        if pending and not NATIVE_LINE.match(pending) and b"\r" in pending:
            _write_all(real, pending)
            pending = b""
    if pending and not NATIVE_LINE.match(pending):
        _write_all(real, pending)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        try:
            n = os.write(fd, data)
        except OSError:
            return
        data = data[n:]
