"""Small helpers for the course notebooks: hidden answers, graded questions,
a one-line echo of every run, and the course map with its links.

Nothing here simulates.  A graded question holds the ``tw.simulate``
arguments of its scenario and calls ``tw.simulate`` only when the learner
presses *Check* or *Show answer*, so the answer is neither printed nor stored
in the notebook before the learner asks for it (the OSTEP habit: answers
stay hidden until asked for, ``-c``).

>>> from tlbwidgets import course
>>> q = course.check_number("Latency of one shootdown on 4 CPUs (cycles)?",
...                         simulate=dict(cpus=4, workload="single"),
...                         metric="latency_cycles_median")
>>> q.grade("4306")
True
"""

import html
import numbers
import re
from dataclasses import dataclass

import ipywidgets as widgets
import numpy as np
from IPython.display import HTML

import tlbwidgets as tw
from .api import MACHINE_OPTIONS
from .protocols import IMPLEMENTED, protocol_defaults
from ._tables import OP_NAMES
from .workloads import Workload, workload_params

__all__ = [
    "CourseNotebook", "COURSE", "BINDER_REPO", "BINDER_BRANCH",
    "binder_url", "app_url", "course_map_html", "binder_badge_markdown",
    "reveal", "Reveal", "check_number", "CheckNumber", "check_choice", "CheckChoice",
    "echo", "echo_line", "workload_code", "ECHO_OPS_LIMIT", "available", "parse_number", "table",
]

BINDER_REPO = "tlbwidgets/tlbwidgets"
"""GitHub repository (owner/name) that mybinder.org builds the course from."""
BINDER_BRANCH = "main"

_ALWAYS_ECHOED = ("cpus", "sockets", "protocol", "workload", "costs", "seed")


@dataclass(frozen=True)
class CourseNotebook:
    """One notebook of the course: its file name, title and what it teaches."""

    filename: str
    title: str
    teaches: str


COURSE = (
    CourseNotebook("00_index.ipynb", "The course map",
                   "where to start, how to run the notebooks and the apps"),
    CourseNotebook("01_tlb_basics.ipynb", "TLB basics",
                   "what a TLB holds, hits and misses, working set against TLB size"),
    CourseNotebook("02_one_shootdown.ipynb", "One shootdown, step by step",
                   "the seed's mailbox protocol in the stepper, and its latency formula"),
    CourseNotebook("03_cost_and_scaling.ipynb", "Cost and scaling",
                   "latency against CPU count, range size against the full-flush "
                   "threshold, sockets"),
    CourseNotebook("04_races.ipynb", "Races",
                   "the shared ACK flag race, the interrupts-off timeout, the mutual "
                   "wait, and the repair"),
    CourseNotebook("05_protocol_shootout.ipynb", "Protocol shoot-out",
                   "what each protocol saves and what it costs"),
    CourseNotebook("06_exercises.ipynb", "Exercises",
                   "graded predict-then-check exercises for a class"),
    CourseNotebook("07_your_machine.ipynb", "Your machine",
                   "real shootdowns measured on this machine, beside the simulator, and a "
                   "cost preset fitted to them"),
)
"""The course notebooks in reading order (``notebooks/``)."""


# ---- links -------------------------------------------------------------------------

def _check_notebook(notebook):
    if not isinstance(notebook, str):
        raise TypeError(f"notebook must be a file name such as '01_tlb_basics.ipynb', "
                        f"got {notebook!r} ({type(notebook).__name__})")
    if not re.fullmatch(r"[\w.-]+\.ipynb", notebook):
        raise ValueError(f"notebook={notebook!r} must be a bare .ipynb file name "
                         "(letters, digits, '_', '-', '.'), e.g. '01_tlb_basics.ipynb'")
    return notebook


def binder_url(notebook="00_index.ipynb", app=False):
    """mybinder.org link that opens ``notebooks/<notebook>`` of the course repo.

    ``app=False`` opens it in JupyterLab (``urlpath=lab/tree/...``);
    ``app=True`` renders it as a Voila app (``urlpath=voila/render/...``).
    """
    notebook = _check_notebook(notebook)
    path = (f"voila/render/notebooks/{notebook}" if app
            else f"lab/tree/notebooks/{notebook}")
    return f"https://mybinder.org/v2/gh/{BINDER_REPO}/{BINDER_BRANCH}?urlpath={path}"


def app_url(notebook):
    """Voila path of a course notebook on the server ``python -m tlbwidgets course``
    starts, which serves the course folder at its root (``voila/render/<notebook>``);
    prefix it with the server's base URL."""
    return f"voila/render/{_check_notebook(notebook)}"


def binder_badge_markdown(notebook="00_index.ipynb"):
    """The 'launch binder' badge for a Markdown cell, opening ``notebook`` in JupyterLab.

    Written as inline HTML, not ``[![...](...)](...)``: Voila running inside a Jupyter
    server fails on Markdown images (it inlines them through a synchronous call to an async
    contents manager) and never finishes the page.
    """
    return (f'<a href="{binder_url(notebook)}"><img src="https://mybinder.org/badge_logo.svg" '
            f'alt="Launch on Binder"></a>')


def course_map_html():
    """The course as an HTML table: notebook, what it teaches, and its links
    (open in JupyterLab on Binder, or run as an app on Binder)."""
    rows = []
    for nb in COURSE:
        rows.append(
            f"<tr><td><a href='{nb.filename}'>{html.escape(nb.title)}</a><br>"
            f"<code>{nb.filename}</code></td><td>{html.escape(nb.teaches)}</td>"
            f"<td><a href='{binder_url(nb.filename)}'>notebook</a> · "
            f"<a href='{binder_url(nb.filename, app=True)}'>app</a></td></tr>")
    return ("<table><thead><tr><th>notebook</th><th>what it teaches</th>"
            "<th>on Binder</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


# ---- echo --------------------------------------------------------------------------

def _default_of(key, config):
    if key in MACHINE_OPTIONS:
        default = MACHINE_OPTIONS[key]
        if default is None and config.get("protocol") in IMPLEMENTED:
            default = protocol_defaults(config["protocol"]).get(key)
        return default
    name = config.get("workload")
    if isinstance(name, str):
        return workload_params(name).get(key, object())
    return object()


def echo_line(result_or_config):
    """``tw.simulate(...)`` call that reproduces a run: the machine, protocol,
    workload, costs and seed always, plus every option that differs from its
    default.  Takes a ``tw.Result`` or its ``config`` dict."""
    config = getattr(result_or_config, "config", result_or_config)
    if not isinstance(config, dict):
        raise TypeError(f"echo_line needs a tw.Result or its config dict, got "
                        f"{type(result_or_config).__name__}")
    parts = []
    for key in _ALWAYS_ECHOED:
        if key in config:
            value = config[key]
            shown = repr(value)
            if isinstance(value, Workload):
                shown = workload_code(value)
            parts.append(f"{key}={shown}")
    for key, value in config.items():
        if key in _ALWAYS_ECHOED:
            continue
        if value != _default_of(key, config):
            parts.append(f"{key}={value!r}")
    return "tw.simulate(" + ", ".join(parts) + ")"


ECHO_OPS_LIMIT = 200
"""A custom workload of at most this many ops is echoed op by op; a longer one
would bury the call, so its echo says how to rebuild it instead."""


def workload_code(workload):
    """Python expression that rebuilds ``workload``: ``tw.workloads.<name>(...)``
    for a named generator, ``tw.Workload.from_ops(...)`` for a custom one.

    The expression runs as printed (with ``tw`` imported) unless a custom
    workload has more than ``ECHO_OPS_LIMIT`` ops: then it is a placeholder
    string that says so and cannot be mistaken for code.
    """
    arrays = getattr(workload, "_arrays", None)
    if arrays is None:
        args = ", ".join(f"{k}={v!r}" for k, v in workload.params.items())
        return f"tw.workloads.{workload.name}({args})"
    op_start, kind, vpn, pages, think = arrays
    if len(kind) > ECHO_OPS_LIMIT:
        return (f"<{workload.name} workload of {len(kind)} ops: too long to echo, "
                f"rebuild it with tw.Workload.from_ops>")
    cpu = np.repeat(np.arange(len(op_start) - 1), np.diff(op_start))
    names = [OP_NAMES[int(k)] for k in kind]
    name = "" if workload.name == "custom" else f", name={workload.name!r}"
    ranges = getattr(workload, "byte_ranges", None)
    if ranges is not None:
        name += f", byte_start={ranges[0].tolist()}, byte_len={ranges[1].tolist()}"
    return (f"tw.Workload.from_ops(cpu={cpu.tolist()}, kind={names}, vpn={vpn.tolist()}, "
            f"pages={pages.tolist()}, think={think.tolist()}, cpus={workload.cpus}{name})")


def echo(result, label="config"):
    """Print the call that reproduces ``result`` (``label: tw.simulate(...)``);
    every other input was at its default (all of them: ``result.config``)."""
    print(f"{label}: {echo_line(result)}")


def available(protocol):
    """True if the engine plays ``protocol`` today; otherwise print a polite
    note and return False, so a notebook can skip that part and carry on."""
    if protocol not in tw.PROTOCOLS:
        raise ValueError(f"protocol={protocol!r} is unknown; choose one of "
                         f"{list(tw.PROTOCOLS)}")
    if protocol in IMPLEMENTED:
        return True
    print(f"'{protocol}' is specified (docs/protocols.md) but not simulated in this "
          f"version of tlbwidgets; simulated today: {', '.join(IMPLEMENTED)}. "
          "This part of the notebook is skipped.")
    return False


# ---- tables ------------------------------------------------------------------------

def _cell(value):
    if isinstance(value, (float, np.floating)):
        if value != value:
            return "–"
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (numbers.Integral, np.integer)):
        return f"{int(value):,}"
    return html.escape(str(value))


TABLE_BAR_PX = 80
"""Length of the longest bar ``table(bar=...)`` draws."""


def table(rows, columns=None, bar=None, caption=""):
    """A small HTML table that renders in JupyterLab, Voila and static HTML
    (no pandas needed: the course runs on the package's own dependencies).

    ``rows``: a NumPy structured array (a ``tw.Result`` table or a sweep) or a
    list of dicts; ``columns``: which to show (default: all); ``bar``: a
    numeric column drawn as a horizontal bar next to its value.
    """
    if isinstance(rows, np.ndarray) and rows.dtype.names:
        names = list(rows.dtype.names)
        records = [{n: r[n] for n in names} for r in rows]
    elif isinstance(rows, (list, tuple)) and all(isinstance(r, dict) for r in rows):
        records = list(rows)
        names = list(records[0]) if records else []
    else:
        raise TypeError("rows must be a structured NumPy array or a list of dicts, got "
                        f"{type(rows).__name__}")
    columns = list(columns) if columns is not None else names
    missing = [c for c in columns + ([bar] if bar else []) if c not in names]
    if missing:
        raise ValueError(f"columns {missing} are not in the rows; available: {names}")
    top = max((float(r[bar]) for r in records if float(r[bar]) == float(r[bar])),
              default=0.0) if bar else 0.0
    # Headers wrap (after an underscore too), so a table of many columns fits the
    # width of a notebook on a 1024 px projector instead of hiding its last ones.
    head = "".join(f"<th style='text-align:right;padding:2px 6px;max-width:8em;"
                   f"white-space:normal'>{html.escape(c).replace('_', '_<wbr>')}</th>"
                   for c in columns)
    body = []
    for r in records:
        cells = []
        for c in columns:
            cell = _cell(r[c])
            if c == bar and top > 0 and float(r[c]) == float(r[c]):
                width = max(1, int(TABLE_BAR_PX * float(r[c]) / top))
                cell = (f"<span style='display:inline-block;width:{width}px;height:10px;"
                        f"background:#0072B2;margin-right:6px'></span>{cell}")
            cells.append(f"<td style='text-align:right;padding:2px 6px;white-space:nowrap'>"
                         f"{cell}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    cap = (f"<caption style='caption-side:bottom;text-align:left;font-size:12px'>"
           f"{html.escape(caption)}</caption>") if caption else ""
    return HTML(f"<table style='border-collapse:collapse;font-size:13px'>{cap}<thead><tr>"
                f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


# ---- hidden answers ----------------------------------------------------------------

def _button_layout():
    # a button in a VBox stretches to the full width unless told not to
    return widgets.Layout(width="auto", align_self="flex-start")


_BOX = ("<div style='border-left:4px solid {color};padding:4px 10px;margin:4px 0;"
        "max-width:820px;font-size:14px'>{body}</div>")


class Reveal(widgets.VBox):
    """A question's answer behind a button.  The answer text is kept in
    Python until the button is pressed: it is not in the notebook's output or
    widget state before that.  A ``label`` other than "Show answer" is the
    question: it stays on screen above the button."""

    def __init__(self, answer, label="Show answer"):
        if not isinstance(answer, str) or not answer.strip():
            raise ValueError("answer must be a non-empty string of HTML")
        if not isinstance(label, str) or not label.strip():
            raise ValueError(f"label must be a non-empty string, got {label!r}")
        self._answer = answer
        self.question_html = widgets.HTML(
            "" if label == "Show answer" else f"<b>{html.escape(label)}</b>")
        self.button = widgets.Button(description="Show answer", icon="eye",
                                     layout=_button_layout())
        self.answer_html = widgets.HTML("")
        self.button.on_click(lambda _b: self.toggle())
        super().__init__(children=[self.question_html, self.button, self.answer_html])

    @property
    def shown(self):
        """True while the answer is visible."""
        return bool(self.answer_html.value)

    def toggle(self):
        """Show the answer if hidden, hide it if shown."""
        if self.shown:
            self.answer_html.value = ""
            self.button.description = "Show answer"
        else:
            self.answer_html.value = _BOX.format(color="#0072B2", body=self._answer)
            self.button.description = "Hide answer"


def reveal(answer, label="Show answer"):
    """A 'Show answer' button over ``answer`` (HTML)."""
    return Reveal(answer, label)


def parse_number(text):
    """A number from what a learner typed ('4306', '4,306', '1.4e3', ' 12 '),
    or None when it is not one."""
    if isinstance(text, numbers.Real) and not isinstance(text, bool):
        return float(text)
    if not isinstance(text, str):
        return None
    cleaned = text.strip().replace(",", "").replace("_", "")
    try:
        return float(cleaned)
    except ValueError:
        return None


class _Graded(widgets.VBox):
    """Shared parts of a graded question: the scenario, lazily simulated."""

    def __init__(self, question, simulate, explanation):
        if not isinstance(question, str) or not question.strip():
            raise ValueError("question must be a non-empty string")
        runs = simulate if isinstance(simulate, (list, tuple)) else [simulate]
        if not runs or not all(isinstance(r, dict) for r in runs):
            raise TypeError("simulate must be a dict of tw.simulate arguments, or a "
                            f"list of such dicts; got {simulate!r}")
        for kwargs in runs:
            tw.validate_args(**kwargs)    # a typo fails when the notebook runs, not on Check
        self._runs = [dict(r) for r in runs]
        self._many = isinstance(simulate, (list, tuple))
        self._explanation = explanation
        self._results = None
        self.attempts = 0
        self.solved = False
        self.question_html = widgets.HTML(f"<b>{question}</b>")
        self.feedback = widgets.HTML("")
        self.answer_button = widgets.Button(description="Show answer", icon="eye",
                                            layout=_button_layout())
        self.answer_button.on_click(lambda _b: self.show_answer())

    def results(self):
        """The scenario's ``tw.Result`` (or list of them), simulated on first use."""
        if self._results is None:
            self._results = [tw.simulate(**kwargs) for kwargs in self._runs]
        return self._results if self._many else self._results[0]

    def _calls(self):
        res = self._results if self._results is not None else []
        return "<br>".join(f"<code>{html.escape(echo_line(r))}</code>" for r in res)

    def _say(self, color, body):
        self.feedback.value = _BOX.format(color=color, body=body)


class CheckNumber(_Graded):
    """Type a number, press Check: graded against the simulator.

    Correct when ``|guess - truth| <= max(abs_tol, rel_tol * |truth|)``.  A
    wrong guess is told 'too high' or 'too low', never the value; *Show
    answer* gives the value, the explanation and the call that produced it.
    """

    def __init__(self, question, simulate, metric, unit="", rel_tol=0.05, abs_tol=0.0,
                 explanation=""):
        super().__init__(question, simulate, explanation)
        if not (isinstance(metric, str) or callable(metric)):
            raise TypeError(f"metric must be a summary() key or a function of the "
                            f"result(s), got {metric!r}")
        for name, tol in (("rel_tol", rel_tol), ("abs_tol", abs_tol)):
            if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or tol < 0:
                raise ValueError(f"{name} must be a number >= 0, got {tol!r}")
        self._metric = metric
        self.unit = unit
        self.rel_tol, self.abs_tol = float(rel_tol), float(abs_tol)
        self.guess = widgets.Text(placeholder=f"your answer{' (' + unit + ')' if unit else ''}",
                                  layout=widgets.Layout(width="220px"))
        self.check_button = widgets.Button(description="Check", icon="check",
                                           button_style="primary")
        self.check_button.on_click(lambda _b: self.grade(self.guess.value))
        self.guess.continuous_update = False
        super(_Graded, self).__init__(children=[
            self.question_html,
            widgets.HBox([self.guess, self.check_button, self.answer_button]),
            self.feedback])

    def truth(self):
        """The simulator's answer (runs the scenario on first use)."""
        res = self.results()
        if isinstance(self._metric, str):
            if self._many:
                raise TypeError("with several runs, metric must be a function of the "
                                "list of results")
            value = res.summary()[self._metric]
        else:
            value = self._metric(res)
        return float(value)

    def grade(self, text):
        """Grade what the learner typed; True when correct."""
        guess = parse_number(text)
        if guess is None:
            self._say("#E69F00", f"Type a number{' in ' + self.unit if self.unit else ''} "
                                 f"(got {html.escape(str(text))!s}).")
            return False
        self.attempts += 1
        truth = self.truth()
        tol = max(self.abs_tol, self.rel_tol * abs(truth))
        if abs(guess - truth) <= tol:
            self.solved = True
            self._say("#009E73", f"Correct: the simulator gives {truth:,.6g}"
                                 f"{' ' + self.unit if self.unit else ''}. "
                                 f"{self._explanation}")
            return True
        direction = "too high" if guess > truth else "too low"
        self._say("#D55E00", f"Not yet: {guess:,.6g} is {direction} (attempt "
                             f"{self.attempts}). Try again, or press Show answer.")
        return False

    def show_answer(self):
        truth = self.truth()
        self._say("#0072B2", f"Answer: {truth:,.6g}{' ' + self.unit if self.unit else ''}. {self._explanation}"
                             f"<br>Reproduce it: {self._calls()}")


def check_number(question, simulate, metric, unit="", rel_tol=0.05, abs_tol=0.0,
                 explanation=""):
    """A numeric question graded by ``tw.simulate(**simulate)``.

    ``metric``: a ``summary()`` key, or a function of the Result (of the list
    of Results when ``simulate`` is a list of argument dicts).
    """
    return CheckNumber(question, simulate, metric, unit, rel_tol, abs_tol, explanation)


class CheckChoice(_Graded):
    """Pick one option, press Check: ``decide(result(s))`` names the right one."""

    def __init__(self, question, options, simulate, decide, explanation=""):
        super().__init__(question, simulate, explanation)
        options = tuple(options)
        if len(options) < 2 or not all(isinstance(o, str) for o in options):
            raise ValueError(f"options must be at least two strings, got {options!r}")
        if not callable(decide):
            raise TypeError(f"decide must be a function of the result(s), got {decide!r}")
        self.options = options
        self._decide = decide
        self.choice = widgets.RadioButtons(options=options, value=None,
                                           layout=widgets.Layout(width="auto"))
        self.check_button = widgets.Button(description="Check", icon="check",
                                           button_style="primary")
        self.check_button.on_click(lambda _b: self.grade(self.choice.value))
        super(_Graded, self).__init__(children=[
            self.question_html, self.choice,
            widgets.HBox([self.check_button, self.answer_button]), self.feedback])

    def truth(self):
        """The option the simulator picks (runs the scenario on first use)."""
        right = self._decide(self.results())
        if right not in self.options:
            raise ValueError(f"decide returned {right!r}, which is not one of the "
                             f"options {list(self.options)}")
        return right

    def grade(self, picked):
        """Grade the picked option; True when it is the simulator's."""
        if picked is None:
            self._say("#E69F00", "Pick an option first.")
            return False
        if picked not in self.options:
            raise ValueError(f"picked={picked!r} is not one of {list(self.options)}")
        self.attempts += 1
        if picked == self.truth():
            self.solved = True
            self._say("#009E73", f"Correct. {self._explanation}")
            return True
        self._say("#D55E00", f"Not this one (attempt {self.attempts}). Look again, or "
                             "press Show answer.")
        return False

    def show_answer(self):
        self._say("#0072B2", f"Answer: <b>{html.escape(self.truth())}</b>. "
                             f"{self._explanation}<br>Reproduce it: {self._calls()}")


def check_choice(question, options, simulate, decide, explanation=""):
    """A multiple-choice question whose right option is decided by the simulator."""
    return CheckChoice(question, options, simulate, decide, explanation)
