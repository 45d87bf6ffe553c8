"""Load a script of ``benchmarks/`` as a module, for tests that check what it computes
(the scripts are run by hand and are not part of the package)."""

import importlib.util
from pathlib import Path

__all__ = ["BENCHMARKS", "load_benchmark"]

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(filename, module_name):
    """``benchmarks/<filename>`` imported as the module ``module_name``."""
    spec = importlib.util.spec_from_file_location(module_name, BENCHMARKS / filename)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
