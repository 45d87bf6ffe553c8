"""Checks that every run of every protocol must pass, shared by the engine's
and the protocols' invariant tests."""

__all__ = ["assert_counts_agree", "assert_cpu_time_adds_up"]


def assert_counts_agree(run):
    """The exact summary counts agree with the tables they summarise."""
    s = run.summary()
    assert s["shootdowns"] == len(run.shootdowns)
    assert s["violations"] == len(run.violations)
    assert s["ipis"] == run.shootdowns["ipis"].sum()
    stats = run.cpu_stats
    assert s["accesses"] == stats["accesses"].sum()
    assert s["tlb_misses"] == stats["tlb_misses"].sum()
    assert s["full_flushes"] == stats["full_flushes"].sum()
    assert (stats["tlb_hits"] + stats["tlb_misses"] == stats["accesses"]).all()


def assert_cpu_time_adds_up(run):
    """Every CPU's time in its states fits in the run, and every CPU was
    accounted for."""
    cs = run.cpu_stats
    total = cs["user"] + cs["handler"] + cs["wait"] + cs["kernel"] + cs["irq_off"] + cs["idle"]
    assert (total <= run.sim_cycles).all()
    assert (total > 0).all()
