"""Unmaps named in bytes: the seed's page count ``(end - start) // 4096``
(strat9 arch/x86_64/tlb.rs, shootdown_range and the IPI handler) rounds a
range down, so a sub-page range flushes nothing and an unaligned one misses
its last page; ``mailbox_fixed`` and the other protocols round outward.  The
page-table change always covers every page the bytes touch."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import tlbwidgets as tw
from tlbwidgets._workload import byte_range_pages

PAGE = 4096
# pages every CPU touches before and after the unmap (a 16 x 4 TLB holds them all)
WINDOW = 16


def _unmap_bytes(start, length, cached=range(WINDOW), cpus=3, protocol="mailbox", **opts):
    """Every CPU touches the pages ``cached``, CPU 0 unmaps the bytes
    ``[start, start + length)``, and once it has long returned every CPU
    touches the pages ``0..WINDOW - 1``."""
    cpu, kind, vpn, pages, think, b0, bl = [], [], [], [], [], [], []

    def op(c, k, v, p, t, s=0, n=0):
        for col, x in ((cpu, c), (kind, k), (vpn, v), (pages, p), (think, t), (b0, s),
                       (bl, n)):
            col.append(x)

    for c in range(cpus):
        for v in cached:
            op(c, "access", v, 1, 10)
        if c == 0:
            op(c, "unmap", 0, 0, 200_000, start, length)
        else:
            op(c, "idle", 0, 0, 200_000)
        for v in range(WINDOW):
            op(c, "access", v, 1, 10)
    wl = tw.Workload.from_ops(cpu, kind, vpn, pages, think, cpus=cpus, byte_start=b0,
                              byte_len=bl)
    return tw.simulate(cpus=cpus, protocol=protocol, workload=wl, **opts)


def test_byte_range_pages_follow_the_seed_page_count():
    # (first page, pages touched, pages the seed's count leaves out)
    assert byte_range_pages(0, 4096) == (0, 1, 0)
    assert byte_range_pages(100, 1000) == (0, 1, 1)          # sub-page: flushes 0
    assert byte_range_pages(2048, 4096) == (0, 2, 1)         # unaligned: misses page 1
    assert byte_range_pages(4095, 4098) == (0, 3, 2)         # 1 counted of 3 touched
    assert byte_range_pages(8192, 3 * 4096) == (2, 3, 0)


def test_sub_page_unmap_flushes_nothing_under_the_seed_and_later_reads_violate():
    r = _unmap_bytes(5 * PAGE + 100, 1000)
    sd = r.shootdowns[0]
    # a zero-page Range op
    assert (sd["vpn"], sd["pages"], sd["flushed_pages"], sd["kind"]) == (5, 1, 0, "range")
    assert r.summary()["full_flushes"] == 0
    assert r.summary()["ipis"] == 2                # still dispatched to every target
    # nobody flushed page 5, so all three CPUs read it stale after the return
    assert r.summary()["violations"] == 3
    assert sorted(r.violations["cpu"].tolist()) == [0, 1, 2]
    assert set(r.violations["vpn"].tolist()) == {5}


def test_unaligned_unmap_misses_its_last_page_under_the_seed():
    r = _unmap_bytes(5 * PAGE + 2048, PAGE)        # touches pages 5 and 6, counts 1
    assert r.shootdowns["pages"].tolist() == [2]
    assert r.shootdowns["flushed_pages"].tolist() == [1]
    assert r.shootdowns["kind"].tolist() == ["page"]
    assert set(r.violations["vpn"].tolist()) == {6}
    assert r.summary()["violations"] == 3


@pytest.mark.parametrize("protocol", ["mailbox_fixed", "linux", "global_lock", "broadcast"])
def test_other_protocols_round_outward_and_never_violate(protocol):
    for start, length in ((5 * PAGE + 100, 1000), (5 * PAGE + 2048, PAGE)):
        r = _unmap_bytes(start, length, protocol=protocol)
        assert r.shootdowns["flushed_pages"].tolist() == r.shootdowns["pages"].tolist()
        assert r.summary()["violations"] == 0
        assert r.summary()["stale_open_at_end"] == 0


def test_byte_range_changes_every_page_it_touches():
    # the unmap really removes pages 5 and 6: both were cached on 3 CPUs
    r = _unmap_bytes(5 * PAGE + 2048, PAGE, protocol="mailbox_fixed")
    assert sorted(set(r.stale_windows["vpn"].tolist())) == [5, 6]
    assert len(r.stale_windows) == 6


def test_aligned_byte_range_is_the_same_run_as_the_page_op():
    by_bytes = _unmap_bytes(3 * PAGE, 4 * PAGE)
    cpu, kind, vpn, pages, think = [], [], [], [], []
    for c in range(3):
        for v in range(WINDOW):
            cpu.append(c), kind.append("access"), vpn.append(v), pages.append(1)
            think.append(10)
        cpu.append(c), think.append(200_000), pages.append(4 if c == 0 else 0)
        kind.append("unmap" if c == 0 else "idle"), vpn.append(3 if c == 0 else 0)
        for v in range(WINDOW):
            cpu.append(c), kind.append("access"), vpn.append(v), pages.append(1)
            think.append(10)
    by_pages = tw.simulate(cpus=3, workload=tw.Workload.from_ops(cpu, kind, vpn, pages,
                                                                 think, cpus=3))
    assert by_bytes.summary() == by_pages.summary()
    assert np.array_equal(by_bytes.shootdowns, by_pages.shootdowns)
    assert np.array_equal(by_bytes.events, by_pages.events)


def test_short_range_scenario_violates_under_the_seed_only():
    seed = tw.simulate(cpus=4, protocol="mailbox", workload="short_range")
    fixed = tw.simulate(cpus=4, protocol="mailbox_fixed", workload="short_range")
    assert seed.summary()["violations"] >= 1
    assert set(seed.violations["vpn"].tolist()) == {2}      # the page it left out
    assert fixed.summary()["violations"] == 0
    sub = tw.simulate(cpus=4, workload="short_range", byte_offset=100, byte_len=1000)
    assert set(sub.violations["vpn"].tolist()) == {1}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start=st.integers(0, 12 * PAGE), length=st.integers(1, 3 * PAGE + 10),
       cached=st.sets(st.integers(0, WINDOW - 1), max_size=WINDOW))
def test_seed_violates_exactly_when_its_rounding_misses_a_cached_touched_page(
        start, length, cached):
    first, touched, short = byte_range_pages(start, length)
    missed = set(range(first + touched - short, first + touched))
    seed = _unmap_bytes(start, length, cached=sorted(cached), max_log_events=0)
    fixed = _unmap_bytes(start, length, cached=sorted(cached), protocol="mailbox_fixed",
                         max_log_events=0)
    assert fixed.summary()["violations"] == 0
    assert (seed.summary()["violations"] > 0) == bool(missed & cached)
    assert set(seed.violations["vpn"].tolist()) == missed & cached


def test_byte_range_arguments_are_checked():
    def wl(kind="unmap", vpn=0, pages=0, start=0, length=10, **kw):
        return tw.Workload.from_ops([0], [kind], [vpn], [pages], [0], **kw,
                                    **({} if start is None else
                                       {"byte_start": [start], "byte_len": [length]}))
    with pytest.raises(ValueError, match="byte_start and byte_len go together"):
        tw.Workload.from_ops([0], ["unmap"], [0], [1], [0], byte_start=[0])
    with pytest.raises(ValueError, match="byte_len must be between 0 and .*got -1"):
        wl(length=-1)
    with pytest.raises(ValueError, match="byte_start must be between 0 and"):
        wl(start=-5)
    with pytest.raises(ValueError, match=r"byte_len\[0\]=10 on a access op: only unmap"):
        wl(kind="access", pages=1)
    with pytest.raises(ValueError, match=r"pages\[0\]=3 but bytes \[0, 10\) give pages 1"):
        wl(pages=3)
    with pytest.raises(ValueError, match="is past the largest address space"):
        wl(start=(1 << 36) - 1, length=2)
    with pytest.raises(ValueError, match="touches pages up to 2 but vm_pages=2"):
        tw.simulate(cpus=1, workload=wl(start=2 * PAGE + 1, length=1), vm_pages=2)
    assert wl(vpn=0, pages=1)._short.tolist() == [1]
    with pytest.raises(ValueError, match="byte_len must be between 1 and 10240"):
        tw.simulate(cpus=2, workload="short_range", byte_offset=2048, byte_len=20_000)
    with pytest.raises(ValueError, match="byte_offset must be between 0 and 4095"):
        tw.simulate(cpus=2, workload="short_range", byte_offset=4096)
