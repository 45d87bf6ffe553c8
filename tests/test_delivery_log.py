"""The delivery log is append-only (a row per delivery, a record per later
stage) and ``Result`` joins it with NumPy: the joined table is the one that
writing each stage into its row gives, a cut log is the first rows of the
whole one, and the records stay within the table sized for them.

The values themselves are checked against the slow reference simulator in
tests/test_reference.py; here, how the log holds them."""

import numpy as np
import pytest

import tlbwidgets as tw
from tlbwidgets.engine import _layout as L

SMALL = dict(vm_pages=256, max_events=2_000_000)

# Every protocol, on workloads whose deliveries meet pending queues, overflows
# (two queue slots), interrupts-off windows and two sockets.
RUNS = [
    dict(protocol="mailbox", workload="munmap_storm", unmaps=8, queue_slots=2),
    dict(protocol="mailbox", workload="uniform", sockets=2, ack_layout="padded"),
    dict(protocol="mailbox", workload="irq_off", wait_irqs_off=True, ack_timeout_spins=40),
    dict(protocol="mailbox_fixed", workload="munmap_storm", unmaps=8, queue_slots=3),
    dict(protocol="linux", workload="munmap_storm", unmaps=6),
    dict(protocol="linux", workload="uniform", apic_mode="physical", pv_preempted_share=0.3),
    dict(protocol="broadcast", workload="munmap_storm", unmaps=6),
    dict(protocol="latr", workload="uniform"),
    dict(protocol="global_lock", workload="munmap_storm", unmaps=6),
]


def _run(case, **opts):
    return tw.simulate(cpus=10, seed=5, **SMALL, **case, **opts)


FIELDS = ("pushed", "ipi_sent", "handler_start", "flushed", "acked")


def _replay(dv, lg):
    """The deliveries table as a log that writes each stage into its row
    would hold it: one record at a time, in the order they were written,
    each mailbox drain taking its CPU's pending rows from a list."""
    rows = [{"shootdown": int(r[L.DV_SD]), "cpu": int(r[L.DV_CPU]),
             "pushed": int(r[L.DV_PUSHED]), "ipi_sent": -1, "handler_start": -1,
             "flushed": -1, "acked": -1} for r in dv]
    pending = {}            # (cpu, its k-th logged drain) -> the rows it takes
    if (lg[:, L.LG_STAGE] == L.LS_DRAIN).any():         # a mailbox run
        for i, r in enumerate(dv):
            queue = pending.setdefault((int(r[L.DV_CPU]), int(r[L.DV_DRAIN])), [])
            assert len(queue) == r[L.DV_RANK]
            queue.append(i)
    drains = {}             # cpu -> logged drains so far
    taken = None            # (rows, moved) of the latest drain
    slot_ends = []
    last_drain = {}         # cpu -> rows of its latest drain (for its store)
    for rec in lg:
        ident, stage, t0, t1 = (int(x) for x in rec)
        if stage == L.LS_IPI:
            rows[ident]["ipi_sent"] = t0
        elif stage == L.LS_SERVED:
            rows[ident]["handler_start"], rows[ident]["flushed"] = t0, t1
        elif stage == L.LS_ACKED:
            rows[ident]["acked"] = t0
        elif stage in (L.LS_SD_PUSHED, L.LS_SD_FLUSHED, L.LS_SD_ACKED):
            name = {L.LS_SD_PUSHED: "pushed", L.LS_SD_FLUSHED: "flushed",
                    L.LS_SD_ACKED: "acked"}[stage]
            for row in rows:
                if row["shootdown"] == ident:
                    row[name] = t0
        elif stage == L.LS_DRAIN:
            k = drains.get(ident, 0)
            drains[ident] = k + 1
            taken = (pending.pop((ident, k), []), t1)
            slot_ends = []
            last_drain[ident] = taken[0]
            for i in taken[0]:
                rows[i]["handler_start"] = t0
        elif stage == L.LS_SLOT:
            assert t1 == len(slot_ends)
            slot_ends.append(t0)
            for rank, i in enumerate(taken[0]):
                if max(rank - taken[1], 0) == t1:
                    rows[i]["flushed"] = t0
        elif stage == L.LS_STORE:
            for i in last_drain.pop(ident):
                rows[i]["acked"] = t0
    return rows


@pytest.mark.parametrize("case", RUNS, ids=lambda c: f"{c['protocol']}-{c['workload']}")
def test_joined_table_equals_writing_each_stage_into_its_row(case):
    r = _run(case)
    assert r.outcome == "completed"
    got = r.deliveries
    want = _replay(r._dv, r._lg)
    assert len(got) == len(want) == r.summary()["deliveries"] > 0
    for name in ("shootdown", "cpu") + FIELDS:
        assert got[name].tolist() == [row[name] for row in want], name
    # every delivery of a completed run went through every stage it has
    assert (got["acked"] >= 0).all() and (got["flushed"] >= got["pushed"]).all()


@pytest.mark.parametrize("case", RUNS, ids=lambda c: f"{c['protocol']}-{c['workload']}")
def test_a_cut_log_holds_the_first_rows_of_the_whole_one(case):
    full = _run(case)
    n = len(full.deliveries)
    # cuts inside a drain's rows, after an overflow, at one row, at none
    for rows in (0, 1, 7, n // 3, n - 1):
        cut = _run(case, max_log_rows=rows)
        assert cut.summary() == full.summary()
        assert "deliveries" in cut.truncated_logs
        assert np.array_equal(cut.deliveries, full.deliveries[:rows]), rows
    assert "deliveries" not in _run(case, max_log_rows=n).truncated_logs


@pytest.mark.parametrize("case", RUNS, ids=lambda c: f"{c['protocol']}-{c['workload']}")
def test_each_stage_is_recorded_once_per_row_within_the_sized_table(case):
    for rows in (None, 7):
        r = _run(case) if rows is None else _run(case, max_log_rows=rows)
        lg = r._lg
        stage, ident = lg[:, L.LG_STAGE], lg[:, L.LG_ID]
        for code in (L.LS_IPI, L.LS_SERVED, L.LS_ACKED, L.LS_SD_PUSHED, L.LS_SD_FLUSHED,
                     L.LS_SD_ACKED):
            ids = ident[stage == code]
            assert len(np.unique(ids)) == len(ids), code
        # a CPU's stores follow its drains one to one
        for cpu in range(10):
            stores = np.sum((stage == L.LS_STORE) & (ident == cpu))
            drains = np.sum((stage == L.LS_DRAIN) & (ident == cpu))
            assert drains - 1 <= stores <= drains
        assert len(lg) <= L.LG_PER_ROW * len(r._dv)


def test_a_storm_logs_its_stages_without_writing_a_row_twice():
    # Two queue slots make most pushes overflow; the rows keep the slot
    # each push went into, and the drain's record says how many it moved.
    r = _run(dict(protocol="mailbox", workload="munmap_storm", unmaps=20, queue_slots=2))
    assert r.summary()["queue_overflows"] > 100
    d = r.deliveries
    assert (d["flushed"] > d["handler_start"]).all()
    want = _replay(r._dv, r._lg)
    for name in FIELDS:
        assert d[name].tolist() == [row[name] for row in want], name


@pytest.mark.parametrize("protocol", tw.PROTOCOLS)
def test_a_run_stopped_midway_logs_the_stages_it_reached_and_minus_one_for_the_rest(protocol):
    # Stopped by the event limit halfway: rows pushed and not yet drained,
    # drains whose ACK store had not landed, shootdowns not yet acknowledged.
    run = dict(cpus=10, seed=3, protocol=protocol, workload="munmap_storm", unmaps=10,
               queue_slots=3, vm_pages=256)
    full = tw.simulate(**run)
    r = tw.simulate(**run, max_events=full.summary()["events"] // 2)
    assert r.outcome == "event_limit"
    got, want = r.deliveries, _replay(r._dv, r._lg)
    for name in FIELDS:
        assert got[name].tolist() == [row[name] for row in want], name
    # the same run up to the stop: each stage reached is the whole run's
    same = full.deliveries[:len(got)]
    assert np.array_equal(got[["shootdown", "cpu"]], same[["shootdown", "cpu"]])
    for name in FIELDS:
        assert ((got[name] == same[name]) | (got[name] == -1)).all(), name
    assert len(got) < len(full.deliveries) or any((got[f] == -1).sum() > (same[f] == -1).sum()
                                                  for f in FIELDS)
