"""The measurement's figure: measured remote cost against target count, with
the simulator's remote cost beside it (bqplot)."""

import bqplot as bq
import numpy as np

from ..costs import resolve_costs
from .measurement import SAME_SOCKET, OTHER_SOCKET
from ..widgets._style import axis, figure, series_color, OKABE_ITO, tooltip

__all__ = ["measurement_figure", "simulated_remote_us"]

_MEASURED_COLORS = (OKABE_ITO["black"], OKABE_ITO["vermillion"])


def simulated_remote_us(costs, targets, protocol="linux", apic_mode="physical"):
    """The simulator's remote cost (µs) of a one-page flush to each count in
    ``targets``: latency on ``k + 1`` CPUs minus latency on one CPU (no
    target: the local flush alone), contention-free (workload ``single``).
    ``apic_mode``: linux's IPI destination mode; the fit's model is
    ``"physical"`` (one ICR write per target)."""
    import tlbwidgets as tw
    c = resolve_costs(costs)

    def latency(cpus):
        r = tw.simulate(cpus=cpus, protocol=protocol, workload="single", costs=c, seed=0,
                        apic_mode=apic_mode)
        return float(r.latencies_cycles()[0])
    alone = latency(1)
    return np.array([c.cycles_to_us(latency(k + 1) - alone) for k in targets])


def measurement_figure(measurement, costs=(), protocol="linux"):
    """Figure: per measured series, the median remote cost (µs, dots) and its
    interquartile range (vertical bars); per entry of ``costs`` (a preset
    name or a ``Costs``), the simulated remote cost of ``protocol`` (a line)."""
    points = [p for p in measurement.points() if p["targets"] > 0]
    xs = bq.LinearScale(min=0)
    ys = bq.LinearScale(min=0)
    marks = []
    labels = []
    series_names = [s for s in (SAME_SOCKET, OTHER_SOCKET) if any(p["series"] == s
                                                                for p in points)]
    for i, name in enumerate(series_names):
        rows = [p for p in points if p["series"] == name and np.isfinite(p["remote_ns"])]
        if not rows:
            continue
        k = np.array([p["targets"] for p in rows], dtype=float)
        med = np.array([p["remote_ns"] for p in rows]) / 1e3
        lo = np.array([p["sent"]["q1_ns"] - p["baseline_ns"] for p in rows]) / 1e3
        hi = np.array([p["sent"]["q3_ns"] - p["baseline_ns"] for p in rows]) / 1e3
        color = _MEASURED_COLORS[i % len(_MEASURED_COLORS)]
        label = f"measured, {name}"
        labels.append(label)
        marks.append(bq.Lines(x=np.stack([k, k], axis=1), y=np.stack([lo, hi], axis=1),
                              scales={"x": xs, "y": ys}, colors=[color], stroke_width=3,
                              opacities=[0.5]))
        marks.append(bq.Scatter(x=k, y=med, scales={"x": xs, "y": ys}, colors=[color],
                                default_size=64, labels=[label], display_legend=True,
                                tooltip=tooltip(["targets", "remote µs"], ["d", ".2f"])))
    ks = sorted({p["targets"] for p in points}) or [1]
    for j, c in enumerate(costs if isinstance(costs, (list, tuple)) else [costs]):
        c = resolve_costs(c)
        sim = simulated_remote_us(c, ks, protocol)
        label = f"simulated {protocol}, costs {c.name}"
        labels.append(label)
        marks.append(bq.Lines(x=np.array(ks, dtype=float), y=sim, scales={"x": xs, "y": ys},
                              colors=[series_color(j)], marker="circle", labels=[label],
                              display_legend=True, line_style="dashed"))
    source = "" if not measurement.is_example else " — STORED EXAMPLE, not this machine"
    return figure(marks, [axis(xs, "CPUs interrupted (targets)", tick_format="d"),
                          axis(ys, "remote cost (µs)", orientation="vertical")],
                  title=f"One-page shootdown: cost of the IPIs{source}", height_px=320,
                  legend_location="top-left")
