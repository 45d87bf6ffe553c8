"""Check the cost presets against published measurements.

Run ``python benchmarks/validation.py`` (add ``--markdown`` for the table
pasted into docs/validation.md).  Each row of :data:`PUBLISHED` is one figure
from a cited source, the preset/protocol/topology that matches it, and the
simulated scenario (one ``single`` shootdown).  The script prints, per row:
the published figure, the closed-form expectation from DESIGN.md section 3 for
the mailbox protocol (computed from the preset, no engine needed, including
ACK-poll rounding), the live
simulator's median initiator latency, and simulator / published.

The published figures *check* the presets; they are not fitted one by one.
Where a preset number was itself derived from the same source, the row says
so (``circular``), and its agreement is not evidence.
"""

import argparse
import math
import sys
from pathlib import Path

# Allow running from a checkout without installing the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tlbwidgets.costs import COST_PRESETS  # noqa: E402

__all__ = ["PUBLISHED", "formula_cycles", "simulated_cycles", "rows", "main"]

# Mailbox turns a range of more than this many pages into a full flush
# (seed README, lines 127-131); mirrored here only for the closed form.
MAILBOX_FULL_FLUSH_ABOVE_PAGES = 64

HANSEN17 = ("Dave Hansen, \"x86 TLB flushing: INVPCID vs. deferred CR3 write\", "
            "linux-mm/LKML 2017-12-05, table \"Not using INVPCID\" (avg cycles of a "
            "local flush by size, tracepoint overhead included)")
HANSEN14 = ("Dave Hansen, \"[RFC][PATCH 6/6] x86: mm: set TLB flush tunable to sane "
            "value\", linux-mm/LKML 2014-02-18, flush_tlb_mm_range() avg cycles by "
            "size during a kernel compile (tracing overhead included)")
TLBC = ("Linux arch/x86/mm/tlb.c, comment on tlb_single_page_flush_ceiling: ~100 ns "
        "per single-page flush, 33 pages capped at about 3,000 ns")
IPI_RT = ("Secondary source only: \"an IPI round-trip is ~1-3 us on modern Xeons\" "
          "(newsletter.onedfrk.com TLB-shootdown note, 2026); no primary paper figure "
          "was retrieved in this session")

# One dict per published figure.  value/low/high are in `unit` ("cycles" or
# "us"); a range has low/high and no value.
PUBLISHED = (
    dict(id="H17-1", what="local flush, 1 page", machine="4-core Skylake desktop",
         unit="cycles", value=692, preset="default", protocol="mailbox",
         cpus=1, sockets=1, pages=1, source=HANSEN17, circular=True),
    dict(id="H17-4", what="local flush, 4 pages", machine="4-core Skylake desktop",
         unit="cycles", value=1276, preset="default", protocol="mailbox",
         cpus=1, sockets=1, pages=4, source=HANSEN17, circular=True),
    dict(id="H17-33", what="local flush, 33 pages", machine="4-core Skylake desktop",
         unit="cycles", value=7069, preset="default", protocol="mailbox",
         cpus=1, sockets=1, pages=33, source=HANSEN17, circular=True),
    dict(id="H17-64", what="local flush, 64 pages", machine="4-core Skylake desktop",
         unit="cycles", value=13092, preset="default", protocol="mailbox",
         cpus=1, sockets=1, pages=64, source=HANSEN17, circular=True),
    dict(id="H14-1", what="local flush, 1 page", machine="Intel, model not stated",
         unit="cycles", value=1276, preset="default", protocol="mailbox",
         cpus=1, sockets=1, pages=1, source=HANSEN14, circular=False),
    dict(id="H14-2", what="local flush, 2 pages", machine="Intel, model not stated",
         unit="cycles", value=1505, preset="default", protocol="mailbox",
         cpus=1, sockets=1, pages=2, source=HANSEN14, circular=False),
    dict(id="H14-4", what="local flush, 4 pages", machine="Intel, model not stated",
         unit="cycles", value=2447, preset="default", protocol="mailbox",
         cpus=1, sockets=1, pages=4, source=HANSEN14, circular=False),
    dict(id="H14-8", what="local flush, 8 pages", machine="Intel, model not stated",
         unit="cycles", value=3542, preset="default", protocol="mailbox",
         cpus=1, sockets=1, pages=8, source=HANSEN14, circular=False),
    dict(id="H14-16", what="local flush, 16 pages", machine="Intel, model not stated",
         unit="cycles", value=5041, preset="default", protocol="mailbox",
         cpus=1, sockets=1, pages=16, source=HANSEN14, circular=False),
    dict(id="TLBC-33", what="local flush, 33 pages (kernel's estimate)",
         machine="x86, unspecified", unit="us", value=3.0, preset="default",
         protocol="mailbox", cpus=1, sockets=1, pages=33, source=TLBC, circular=False),
    dict(id="IPI-2", what="single-page shootdown, 1 remote CPU, same socket",
         machine="modern Xeon (unspecified)", unit="us", low=1.0, high=3.0,
         preset="default", protocol="mailbox", cpus=2, sockets=1, pages=1,
         source=IPI_RT, circular=False),
    dict(id="IPI-2x", what="single-page shootdown, 1 remote CPU, other socket",
         machine="modern Xeon (unspecified)", unit="us", low=1.0, high=3.0,
         preset="intel_2socket", protocol="mailbox", cpus=2, sockets=2, pages=1,
         source=IPI_RT, circular=False),
)


def _cpu_socket(cpu, cpus, sockets):
    """DESIGN.md section 1: CPU i is on socket i * sockets // cpus."""
    return cpu * sockets // cpus


def formula_cycles(row):
    """Closed-form mailbox latency for initiator CPU 0, with ACK-poll rounding.

    DESIGN.md section 3: local flush; per target 2 cache lines (remote ones for
    cross-socket targets) + one IPI send; then the last target's IPI delivery
    (remote latency across sockets), entry, queue drain, flush and ACK store.
    DESIGN charges the target's drain and ACK store as same-socket ``cacheline``
    even for a cross-socket target, and so do we.  The ACK is seen at the first
    ``pause`` poll at or after it lands; polling starts after the last send.
    With one queued op per target, the last target's ACK is the last to land.
    """
    c = COST_PRESETS[row["preset"]]
    pages, cpus, sockets = row["pages"], row["cpus"], row["sockets"]
    flush = c.full_flush if pages > MAILBOX_FULL_FLUSH_ABOVE_PAGES else pages * c.invlpg
    if cpus == 1:
        return flush
    home = _cpu_socket(0, cpus, sockets)
    now = flush
    for t in range(1, cpus):
        remote = _cpu_socket(t, cpus, sockets) != home
        now += 2 * (c.cacheline_remote if remote else c.cacheline)
    ack = 0
    for t in range(1, cpus):
        now += c.ipi_send
        remote = _cpu_socket(t, cpus, sockets) != home
        arrive = now + (c.ipi_latency_remote if remote else c.ipi_latency)
        ack = max(ack, arrive + c.irq_entry + c.cacheline + flush + c.cacheline)
    wait_start = now
    polls = max(0, math.ceil((ack - wait_start) / c.pause))
    return wait_start + polls * c.pause


def simulated_cycles(row):
    """Median initiator latency from the live engine, or None if unavailable.

    Returns (cycles or None, note).  A protocol or option the engine does not
    (yet) accept is reported, not hidden.
    """
    try:
        import tlbwidgets
        simulate = tlbwidgets.simulate
    except (ImportError, AttributeError) as err:
        return None, f"engine not available ({err.__class__.__name__})"
    try:
        result = simulate(cpus=row["cpus"], protocol=row["protocol"], workload="single",
                          costs=row["preset"], sockets=row["sockets"], seed=0,
                          pages=row["pages"])
    except (ValueError, TypeError) as err:
        return None, f"not simulated: {err}"
    summary = result.summary()
    return float(summary["latency_cycles_median"]), summary.get("outcome", "")


def _to_unit(cycles, row):
    if cycles is None:
        return None
    if row["unit"] == "us":
        return cycles / (COST_PRESETS[row["preset"]].clock_ghz * 1e3)
    return cycles


def _published_text(row):
    if "value" in row:
        return f"{row['value']:g} {row['unit']}"
    return f"{row['low']:g}-{row['high']:g} {row['unit']}"


def _ratio_text(sim, row):
    if sim is None:
        return "-"
    if "value" in row:
        return f"{sim / row['value']:.2f}"
    inside = row["low"] <= sim <= row["high"]
    return f"{sim / row['high']:.2f}-{sim / row['low']:.2f} ({'inside' if inside else 'outside'})"


def rows():
    """Yield one dict per published figure with formula and simulator columns."""
    for row in PUBLISHED:
        formula = _to_unit(formula_cycles(row), row)
        sim_cycles, note = simulated_cycles(row)
        sim = _to_unit(sim_cycles, row)
        yield dict(row, formula=formula, sim=sim, note=note)


def _fmt(x):
    if x is None:
        return "-"
    return f"{x:.0f}" if x >= 100 else f"{x:.3g}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = parser.parse_args(argv)
    header = ("id", "figure", "machine", "published", "preset / protocol / cpus x sockets",
              "mailbox formula", "formula / published", "simulator", "sim / published",
              "note")
    out = []
    for r in rows():
        setup = f"{r['preset']} / {r['protocol']} / {r['cpus']}x{r['sockets']}, {r['pages']} p"
        flag = " (circular)" if r["circular"] else ""
        out.append((r["id"], r["what"], r["machine"], _published_text(r), setup,
                    _fmt(r["formula"]), _ratio_text(r["formula"], r) + flag,
                    _fmt(r["sim"]), _ratio_text(r["sim"], r) + flag, r["note"]))
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for line in out:
            print("| " + " | ".join(line) + " |")
    else:
        widths = [max(len(h), *(len(line[i]) for line in out)) for i, h in enumerate(header)]
        print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
        for line in out:
            print("  ".join(v.ljust(w) for v, w in zip(line, widths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
