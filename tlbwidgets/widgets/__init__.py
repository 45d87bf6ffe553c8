"""Notebook front-ends for tlbwidgets: one call for a learner, parts for an instructor.

One-call views: :func:`explore`, :func:`stepper`, :func:`race_lab`,
:func:`scaling`, :func:`diagnose`.  Their parts (controls, charts, the stepper
board, the export bar) are classes that can be laid out differently, the way
ipywidgets offers ``interact`` and ``interactive_output``.  Nothing in this
subpackage simulates: every chart is drawn from a ``tw.Result`` through
:mod:`tlbwidgets.analysis`.
"""

from .controls import ExploreControls
from .cost import CostView
from .staleness import StalenessView
from .timeline import TimelineView
from .scaling import ScalingView, scaling
from .export import ExportBar, write_csv, write_json
from .explore import Explorer, explore
from .stepper import StepperView, Stepper, stepper
from .race_lab import RaceLab, HAZARDS, race_lab
from .diagnose import diagnose
from ._status import StatusBar

__all__ = [
    "explore", "stepper", "race_lab", "scaling", "diagnose",
    "Explorer", "ExploreControls", "CostView", "StalenessView", "TimelineView",
    "ScalingView", "StepperView", "Stepper", "RaceLab", "HAZARDS", "ExportBar",
    "StatusBar", "write_csv", "write_json",
]
