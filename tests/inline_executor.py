"""An executor for sweep tests that runs each call inside ``submit()`` (as
``sweep --workers 1`` does) and counts the calls."""

import concurrent.futures as cf

__all__ = ["CountingInline"]


class CountingInline(cf.Executor):
    """Runs each call inside submit(), like `--workers 1`, counting them in ``runs``."""

    def __init__(self):
        self.runs = 0

    def submit(self, fn, /, *args, **kwargs):
        self.runs += 1
        future = cf.Future()
        future.set_result(fn(*args, **kwargs))
        return future
