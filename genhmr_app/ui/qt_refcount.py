"""Work around a reference-count bug of the PySide6 6.12 wheels on Python 3.11.

Those wheels return None from every void method, and True from Signal.emit, without taking a new
reference; they were evidently built for Python 3.12+, where None, True and False are immortal and
their counts do not matter. On 3.11 each call drops one reference, and after ~10,000 calls (a minute
of live video) the interpreter aborts: "Fatal Python error: none_dealloc: deallocating None".
Measured here: QLabel.setText, QSlider.setRange and QCoreApplication.processEvents each lose one
reference to None; Signal.emit loses one to True.

The fix is what Python 3.12 does: give these singletons a count so large that no run can exhaust it.
Only the count changes; nothing else in the interpreter reads it for these static objects.
"""

from __future__ import annotations

import ctypes
import sys

BOOST = 1 << 40  # ~1e12 lost references before trouble: about 30 years at a million per second


def make_singletons_immortal() -> None:
    if sys.version_info >= (3, 12) or getattr(make_singletons_immortal, "done", False):
        return
    for obj in (None, True, False):
        # CPython 3.11: ob_refcnt is the object's first field, at id(obj).
        ctypes.c_ssize_t.from_address(id(obj)).value += BOOST
    make_singletons_immortal.done = True  # type: ignore[attr-defined]
