"""Export buttons: results as CSV/JSON, figures as PNG/SVG.

Data export happens in the kernel and writes real files.  Figure export
uses bqplot's ``Figure.save_png`` / ``save_svg``, which ask the browser to
render and download the picture: it needs a live front end, so it does
nothing in a headless kernel.
"""

import csv
import html
import json
import os
import re

import ipywidgets as widgets
import numpy as np
from traitlets import Unicode, validate, TraitError

__all__ = ["ExportBar", "write_csv", "write_json", "TABLES"]

TABLES = ("shootdowns", "deliveries", "stale_windows", "violations", "cpu_stats")
"""Result tables written by the CSV export (the event log is left out: it is
large and only useful together with the engine's codes; use to_json)."""


def _safe(label):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(label))


def write_csv(results, prefix):
    """Write ``{prefix}_summary.csv`` (one row per run) and one CSV per table
    and run (``{prefix}_{label}_{table}.csv``).  Returns the paths written."""
    paths = []
    labels = list(results)
    summaries = [results[lab].summary() for lab in labels]
    keys = sorted({k for s in summaries for k in s if not isinstance(s[k], (list, dict))})
    path = f"{prefix}_summary.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["run"] + keys)
        for lab, s in zip(labels, summaries):
            w.writerow([lab] + [s.get(k, "") for k in keys])
    paths.append(path)
    for lab in labels:
        for table in TABLES:
            arr = getattr(results[lab], table)
            path = f"{prefix}_{_safe(lab)}_{table}.csv"
            with open(path, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(arr.dtype.names)
                w.writerows(arr.tolist())
            paths.append(path)
    return paths


def write_json(results, prefix):
    """Write ``{prefix}.json``: ``{label: result}`` using each Result's own
    ``to_json()``, that is its config echo and its summary (the tables are in
    the CSV export, :func:`write_csv`).  Returns the path."""
    payload = {lab: json.loads(r.to_json()) for lab, r in results.items()}
    path = f"{prefix}.json"
    with open(path, "w") as f:
        json.dump(payload, f, indent=1, default=_json_default)
    return path


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


class ExportBar(widgets.VBox):
    """Four buttons and a file prefix; reads results and figures through callables.

    ``get_results()`` returns the dict label -> Result to save;
    ``get_figures()`` the dict name -> bqplot Figure currently shown.
    """

    prefix = Unicode("tlbwidgets_run", help="Path prefix of exported files "
                                            "(a directory part must exist).")

    @validate("prefix")
    def _valid_prefix(self, proposal):
        value = proposal["value"].strip()
        folder = os.path.dirname(value)
        if not value or value.endswith(os.sep):
            raise TraitError(f"prefix={proposal['value']!r} needs a file name part")
        if folder and not os.path.isdir(folder):
            raise TraitError(f"prefix={proposal['value']!r}: folder {folder!r} does not exist")
        return value

    def __init__(self, get_results, get_figures, **kwargs):
        self._refused = ""       # why the typed prefix was refused ('' if it was not)
        self._get_results = get_results
        self._get_figures = get_figures
        self.prefix_text = widgets.Text(value=self.prefix, description="save as",
                                        continuous_update=False,
                                        style={"description_width": "60px"})
        self.prefix_text.tooltip = self.trait_metadata("prefix", "help")
        self.buttons = {kind: widgets.Button(description=kind, icon="download",
                                             tooltip=tip,
                                             layout=widgets.Layout(width="80px"))
                        for kind, tip in (("CSV", "summary and tables as CSV files"),
                                          ("JSON", "every run as one JSON file"),
                                          ("PNG", "figures of this tab as PNG (browser)"),
                                          ("SVG", "figures of this tab as SVG (browser)"))}
        self.message = widgets.HTML()
        super().__init__(children=[widgets.HBox([self.prefix_text] + list(self.buttons.values())),
                                   self.message], **kwargs)
        self.prefix_text.observe(self._set_prefix, names="value")
        for kind, button in self.buttons.items():
            button.on_click(lambda _b, kind=kind: self.export(kind))

    def _set_prefix(self, change):
        try:
            self.prefix = change["new"]
        except TraitError as exc:
            # Until a good prefix is typed, nothing is saved: saving under
            # the previous prefix would write where the learner did not ask.
            self._refused = str(exc)
            self.message.value = f"<span style='color:#D55E00'>{html.escape(str(exc))}</span>"
        else:
            self._refused = ""
            self.message.value = ""

    def export(self, kind):
        """Export in ``kind`` ("CSV", "JSON", "PNG", "SVG"); returns paths written
        (for PNG/SVG, the file names requested from the browser)."""
        if kind not in self.buttons:
            raise ValueError(f"kind={kind!r} is not an export format; choose one of "
                             f"{list(self.buttons)}")
        try:
            if self._refused:
                raise ValueError(f"not saved: {self._refused}")
            if kind in ("CSV", "JSON"):
                results = self._get_results()
                if not results:
                    raise ValueError("nothing to export yet: run a simulation first")
                paths = (write_csv(results, self.prefix) if kind == "CSV"
                         else [write_json(results, self.prefix)])
                note = ""
            else:
                paths = []
                for name, fig in self._get_figures().items():
                    path = f"{os.path.basename(self.prefix)}_{name}.{kind.lower()}"
                    (fig.save_png if kind == "PNG" else fig.save_svg)(path)
                    paths.append(path)
                note = " (the browser downloads them)"
        except (OSError, ValueError, TypeError) as exc:
            self.message.value = (f"<span style='color:#D55E00'>export failed: "
                                  f"{html.escape(str(exc))}</span>")
            return []
        self.message.value = (f"<span style='font-size:12px'>saved {len(paths)} file(s){note}: "
                              f"{', '.join(paths[:4])}{' …' if len(paths) > 4 else ''}</span>")
        return paths
