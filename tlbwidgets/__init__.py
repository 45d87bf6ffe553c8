"""tlbwidgets: teach TLB shootdown on multiprocessors by simulating it.

>>> import tlbwidgets as tw
>>> r = tw.simulate(cpus=8, protocol="mailbox", workload="single", pages=1)
>>> r.summary()["outcome"]
'completed'
"""

from . import workloads
from .api import simulate, validate_args, MACHINE_OPTIONS
from .costs import Costs, COST_PRESETS
from .protocols import PROTOCOLS, PROTOCOL_INFO
from .result import Result
from .search import search_races, SearchResult
from .sweep import sweep, SweepResult, check_sweep
from .machine import measure, Measurement, measured_costs
from .workloads import Workload, WORKLOADS as _WORKLOAD_FUNCS

__version__ = "0.1.0"

# The notebook views import ipywidgets and bqplot (about 0.6 s); load them on
# first use so the CLI, sweeps and their worker processes do not pay for it.
_WIDGETS = ("explore", "stepper", "race_lab", "scaling", "diagnose")


def __getattr__(name):
    if name in _WIDGETS:
        from . import widgets
        return getattr(widgets, name)
    raise AttributeError(f"module 'tlbwidgets' has no attribute {name!r}")

WORKLOADS = tuple(_WORKLOAD_FUNCS)

__all__ = [
    "simulate", "validate_args", "Result", "search_races", "SearchResult", "Costs",
    "Workload", "workloads",
    "sweep", "SweepResult", "check_sweep", "measure", "Measurement", "measured_costs",
    "explore", "stepper", "race_lab", "scaling", "diagnose",
    "PROTOCOLS", "PROTOCOL_INFO", "WORKLOADS", "COST_PRESETS", "MACHINE_OPTIONS",
    "__version__",
]
