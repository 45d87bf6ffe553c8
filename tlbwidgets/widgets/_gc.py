"""Keep Python's garbage collector out of a redraw's way.

A control change allocates enough container objects (traitlets' change
records, the analysis' dicts and lists, the marks' JSON) to trigger the
cyclic collector now and then, and every so often a full, generation-2
collection, which traverses every tracked object alive: about 166 k after
ipywidgets, bqplot, numba and pandas are imported and a view is built, 145-160
ms on the development machine, about one change in four (issue 12's
measurement).  :func:`settle` runs once after a one-call view is built: it
collects what is garbage already, then moves every object still alive into
the permanent generation (``gc.freeze``), which collections skip.  Objects
made later are collected as before.

The price: a reference cycle among the frozen objects that becomes garbage
later is never freed (``gc.unfreeze()`` undoes the freeze).  Those objects are
the imported modules and the views a learner keeps for the whole session.
"""

import gc

__all__ = ["settle"]


def settle(view):
    """Collect, then freeze every live object out of later collections;
    returns ``view`` (for ``return settle(View(...))``)."""
    gc.collect()
    gc.freeze()
    return view
