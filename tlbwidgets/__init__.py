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
from .sweep import sweep, SweepResult, check_sweep
from .widgets import explore, stepper, race_lab, scaling, diagnose
from .workloads import Workload, WORKLOADS as _WORKLOAD_FUNCS

__version__ = "0.1.0"

WORKLOADS = tuple(_WORKLOAD_FUNCS)

__all__ = [
    "simulate", "validate_args", "Result", "Costs", "Workload", "workloads",
    "sweep", "SweepResult", "check_sweep",
    "explore", "stepper", "race_lab", "scaling", "diagnose",
    "PROTOCOLS", "PROTOCOL_INFO", "WORKLOADS", "COST_PRESETS", "MACHINE_OPTIONS",
    "__version__",
]
