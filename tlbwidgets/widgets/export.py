"""Export buttons: results as CSV/JSON, figures as PNG/SVG.

Every export goes to the person who clicked, in their browser; writing on the server is an
explicit option. The kernel may run on another machine (Voila, Binder, a lecture-hall
server), so a file written there would reach nobody. Data exports become a download link
(an ``<a download>`` whose ``href`` is a ``data:`` URL holding the file): it needs no
JavaScript, so it works the same in JupyterLab, Notebook 7 and Voila, and clicking it saves
the file through the browser. Figure export uses bqplot's ``Figure.save_png`` /
``save_svg``, which ask the browser to render and download the picture: it needs a live
front end, so it does nothing in a headless kernel.
"""

import base64
import csv
import html
import io
import json
import os
import re
import zipfile

import ipywidgets as widgets
import numpy as np
from traitlets import Bool, Unicode, validate, TraitError

__all__ = ["ExportBar", "write_csv", "write_json", "csv_files", "json_text", "download_link",
           "TABLES"]

TABLES = ("shootdowns", "deliveries", "stale_windows", "violations", "cpu_stats")
"""Result tables written by the CSV export (the event log is left out: it is
large and only useful together with the engine's codes; use to_json)."""


def _safe(label):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(label))


def _csv_text(rows):
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()


def csv_files(results, prefix):
    """The CSV export as ``{path: text}``: ``{prefix}_summary.csv`` (one row per run) and
    one file per table and run (``{prefix}_{label}_{table}.csv``), in that order."""
    labels = list(results)
    summaries = [results[lab].summary() for lab in labels]
    keys = sorted({k for s in summaries for k in s if not isinstance(s[k], (list, dict))})
    files = {f"{prefix}_summary.csv": _csv_text(
        [["run"] + keys] + [[lab] + [s.get(k, "") for k in keys]
                            for lab, s in zip(labels, summaries)])}
    for lab in labels:
        for table in TABLES:
            arr = getattr(results[lab], table)
            files[f"{prefix}_{_safe(lab)}_{table}.csv"] = _csv_text(
                [arr.dtype.names] + arr.tolist())
    return files


def json_text(results):
    """The JSON export: ``{label: result}`` using each Result's own ``to_json()``, that is
    its config echo and its summary (the tables are in the CSV export, :func:`csv_files`)."""
    payload = {lab: json.loads(r.to_json()) for lab, r in results.items()}
    return json.dumps(payload, indent=1, default=_json_default)


def write_csv(results, prefix):
    """Write the CSV export (``csv_files``) on this machine.  Returns the paths written."""
    files = csv_files(results, prefix)
    for path, text in files.items():
        with open(path, "w", newline="") as f:
            f.write(text)
    return list(files)


def write_json(results, prefix):
    """Write ``{prefix}.json`` (``json_text``) on this machine.  Returns the path."""
    path = f"{prefix}.json"
    with open(path, "w") as f:
        f.write(json_text(results))
    return path


def _zip(files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def download_link(filename, data, mime):
    """HTML for a link that saves ``data`` (bytes) as ``filename`` in the browser of
    whoever clicks it: ``<a download>`` with a ``data:`` URL, no JavaScript."""
    href = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    size = f"{len(data) / 1024:,.1f} kB" if len(data) >= 1024 else f"{len(data)} bytes"
    return (f"<a download=\"{html.escape(filename)}\" href=\"{href}\" "
            f"style='font-weight:600'>&#11015; Download {html.escape(filename)}</a> "
            f"<span style='font-size:12px'>({size})</span>")


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
    CSV and JSON put a download link in ``download`` (CSV as one zip of all its files);
    with ``save_on_server`` they also write the files under ``prefix`` where the kernel runs.
    """

    prefix = Unicode("tlbwidgets_run", help="Path prefix of exported files "
                                            "(a directory part must exist).")
    save_on_server = Bool(False, help="Also write CSV/JSON exports under the prefix on the "
                                      "machine running the kernel (off: download only).")

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
        self.server_box = widgets.Checkbox(value=self.save_on_server, indent=False,
                                           description="also save on the server",
                                           layout=widgets.Layout(width="auto"))
        self.server_box.tooltip = self.trait_metadata("save_on_server", "help")
        widgets.link((self.server_box, "value"), (self, "save_on_server"))
        self.download = widgets.HTML()
        self.message = widgets.HTML()
        super().__init__(children=[widgets.HBox([self.prefix_text] + list(self.buttons.values())
                                                + [self.server_box]),
                                   self.download, self.message], **kwargs)
        self.prefix_text.observe(self._set_prefix, names="value")
        for kind, button in self.buttons.items():
            button.on_click(lambda _b, kind=kind: self.export(kind))

    def _set_prefix(self, change):
        try:
            self.prefix = change["new"]
        except TraitError as exc:
            # Until a good prefix is typed, nothing is exported: files named
            # after the previous prefix are not what the learner asked for.
            self._refused = str(exc)
            self.message.value = f"<span style='color:#D55E00'>{html.escape(str(exc))}</span>"
        else:
            self._refused = ""
            self.message.value = ""

    def results_changed(self):
        """The results were replaced: drop the download link, which holds the old ones
        (a learner would otherwise download the previous run under the new run's view)."""
        self.download.value = ""
        if not self._refused:
            self.message.value = ""

    def export(self, kind):
        """Export in ``kind`` ("CSV", "JSON", "PNG", "SVG"); returns the file names offered
        for download (CSV: one zip; PNG/SVG: those requested from the browser) followed by
        the paths written on the server, if ``save_on_server``."""
        if kind not in self.buttons:
            raise ValueError(f"kind={kind!r} is not an export format; choose one of "
                             f"{list(self.buttons)}")
        base = os.path.basename(self.prefix)
        try:
            if self._refused:
                self.download.value = ""        # no link under the old name either
                raise ValueError(f"nothing exported: {self._refused}")
            if kind in ("CSV", "JSON"):
                results = self._get_results()
                if not results:
                    raise ValueError("nothing to export yet: run a simulation first")
                if kind == "CSV":
                    offered, data, mime = f"{base}_csv.zip", _zip(csv_files(results, base)), \
                        "application/zip"
                else:
                    offered, data, mime = f"{base}.json", json_text(results).encode(), \
                        "application/json"
                written = []
                if self.save_on_server:
                    written = (write_csv(results, self.prefix) if kind == "CSV"
                               else [write_json(results, self.prefix)])
                self.download.value = download_link(offered, data, mime)
                names = [offered] + written
                note = "ready: click the link above to download"
                if written:
                    note += (f"; also saved on the server: {', '.join(written[:4])}"
                             f"{' …' if len(written) > 4 else ''}")
            else:
                names = []
                for name, fig in self._get_figures().items():
                    path = f"{base}_{name}.{kind.lower()}"
                    (fig.save_png if kind == "PNG" else fig.save_svg)(path)
                    names.append(path)
                note = (f"the browser downloads {len(names)} file(s): "
                        f"{', '.join(names[:4])}{' …' if len(names) > 4 else ''}")
        except (OSError, ValueError, TypeError) as exc:
            self.message.value = (f"<span style='color:#D55E00'>export failed: "
                                  f"{html.escape(str(exc))}</span>")
            return []
        self.message.value = f"<span style='font-size:12px'>{html.escape(note)}</span>"
        return names
