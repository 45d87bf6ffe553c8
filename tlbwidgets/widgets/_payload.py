"""Measure what a redraw pushes to the front end (for tests and benchmarks)."""

import json

import bqplot as bq
from ipywidgets.widgets.widget import _remove_buffers

__all__ = ["marks_of", "synced_bytes", "record_sent"]


def marks_of(root):
    """Every bqplot Mark reachable from ``root`` through children and figures."""
    found, stack, seen = [], [root], set()
    while stack:
        w = stack.pop()
        if id(w) in seen:
            continue
        seen.add(id(w))
        if isinstance(w, bq.Mark):
            found.append(w)
        elif isinstance(w, bq.Figure):
            stack.extend(w.marks)
        stack.extend(getattr(w, "children", ()) or ())
    return found


def synced_bytes(marks):
    """Bytes of the synced state of ``marks``: binary buffers plus the JSON rest.

    This is what ``get_state()`` would send if every mark were redrawn at
    once, an upper bound on one redraw's payload.
    """
    total = 0
    for m in marks:
        state, _paths, buffers = _remove_buffers(m.get_state())
        total += sum(memoryview(b).nbytes for b in buffers)
        total += len(json.dumps(state, default=str))
    return total


class record_sent:
    """Context manager counting what widgets send to the front end meanwhile.

    For measurement only: while active it wraps ``ipywidgets.Widget._send``,
    JSON-encodes each message (as the kernel would) and adds its size and
    its binary buffers to ``bytes``; ``messages`` counts the messages.  The
    original method is restored on exit, even on error.
    """

    def __init__(self):
        self.bytes = 0
        self.messages = 0
        self._original = None

    def __enter__(self):
        from ipywidgets import Widget
        self._original = Widget._send
        meter, original = self, self._original

        def _send(widget, msg, buffers=None):
            meter.messages += 1
            meter.bytes += len(json.dumps(msg, default=str))
            meter.bytes += sum(memoryview(b).nbytes for b in (buffers or ()))
            return original(widget, msg, buffers=buffers)

        Widget._send = _send
        return self

    def __exit__(self, *exc):
        from ipywidgets import Widget
        Widget._send = self._original
        return False
