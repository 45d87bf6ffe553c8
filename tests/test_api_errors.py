"""Bad arguments get a clear error naming the parameter, the value and what
is allowed -- before any jitted code runs -- and nothing else escapes."""

import pytest
from hypothesis import given, settings, HealthCheck, strategies as st

import tlbwidgets as tw


@pytest.mark.parametrize("kwargs,exc,words", [
    ({"cpus": 0}, ValueError, ["cpus", "0", "between 1 and 1024"]),
    ({"cpus": 1025}, ValueError, ["cpus", "1025"]),
    ({"cpus": 2.5}, TypeError, ["cpus", "2.5", "integer"]),
    ({"cpus": True}, TypeError, ["cpus", "True"]),
    ({"cpus": 6, "sockets": 4}, ValueError, ["sockets=4", "divide", "cpus=6"]),
    ({"protocol": "mesi"}, ValueError, ["protocol", "mesi", "mailbox"]),
    ({"protocol": 3}, TypeError, ["protocol"]),
    ({"workload": "nope"}, ValueError, ["workload", "nope", "uniform"]),
    ({"costs": "cray"}, ValueError, ["costs", "cray", "default"]),
    ({"costs": {"invlpg": -1}}, ValueError, ["invlpg", "-1"]),
    ({"costs": {"mlp": 0}}, ValueError, ["Costs.mlp", "0", "between 1 and 64"]),
    ({"costs": {"mlp": 65}}, ValueError, ["Costs.mlp", "65", "between 1 and 64"]),
    ({"costs": {"mlp": 2.0}}, TypeError, ["Costs.mlp", "2.0", "integer"]),
    ({"apic_mode": "cluster"}, ValueError,
     ["apic_mode", "'cluster'", "x2apic_cluster", "physical"]),
    ({"apic_mode": 1}, ValueError, ["apic_mode", "1", "x2apic_cluster", "physical"]),
    ({"ack_layout": "tight"}, ValueError, ["ack_layout", "'tight'", "packed", "padded"]),
    ({"ack_layout": 64}, ValueError, ["ack_layout", "64", "packed", "padded"]),
    ({"pv_preempted_share": 1.5}, ValueError, ["pv_preempted_share", "1.5", "[0, 1]"]),
    ({"pv_preempted_share": "half"}, TypeError, ["pv_preempted_share", "half"]),
    ({"seed": -1}, ValueError, ["seed", "-1"]),
    ({"tlb_sets": 12}, ValueError, ["tlb_sets", "power of two", "12"]),
    ({"tlb_ways": 0}, ValueError, ["tlb_ways", "0"]),
    ({"ack_timeout_spins": 0}, ValueError, ["ack_timeout_spins", "0"]),
    ({"wait_irqs_off": "yes"}, TypeError, ["wait_irqs_off", "yes"]),
    ({"offline": (0, 99), "cpus": 4}, ValueError, ["offline", "99"]),
    ({"bogus": 1}, ValueError, ["bogus", "allowed"]),
    ({"unmap_rate": 1.5}, ValueError, ["unmap_rate", "1.5", "[0, 1]"]),
    ({"unmap_pages": 0}, ValueError, ["unmap_pages", "0"]),
    ({"workload": "single", "pages": 0}, ValueError, ["pages", "0"]),
    ({"workload": "single", "initiator": 9, "cpus": 4}, ValueError, ["initiator", "9"]),
    ({"workload": "single", "unmap_rate": 0.1}, ValueError, ["unmap_rate", "allowed"]),
    ({"workload": "ack_race", "cpus": 2}, ValueError, ["ack_race", "3 CPUs"]),
    ({"workload": "uniform", "working_set_pages": 64, "vm_pages": 16, "unmap_pages": 32},
     ValueError, ["unmap_pages"]),
    ({"workload": "single", "pages": 100, "vm_pages": 50}, ValueError, ["vm_pages", "50"]),
])
def test_bad_argument_names_parameter_value_and_allowed(kwargs, exc, words):
    with pytest.raises(exc) as info:
        tw.simulate(**kwargs)
    msg = str(info.value)
    for w in words:
        assert w in msg, f"{w!r} missing from {msg!r}"


def test_custom_workload_errors():
    with pytest.raises(ValueError, match="kind has unknown op name"):
        tw.Workload.from_ops([0], ["jump"], [0], [1], [0])
    with pytest.raises(ValueError, match="pages has 2 entries but kind has 1"):
        tw.Workload.from_ops([0], ["access"], [0], [1, 1], [0])
    with pytest.raises(ValueError, match="think must be between 0 and "):
        tw.Workload.from_ops([0], ["access"], [0], [1], [-5])
    wl = tw.Workload.from_ops([0, 1], ["access", "access"], [0, 0], [1, 1], [0, 0])
    with pytest.raises(ValueError, match="cpus=4 does not match"):
        tw.simulate(cpus=4, workload=wl)


_values = st.one_of(st.none(), st.booleans(), st.integers(-5, 5000),
                    st.floats(allow_nan=True), st.text(max_size=4),
                    st.lists(st.integers(-2, 40), max_size=3))


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(
    cpus=st.one_of(st.integers(-2, 20), _values),
    sockets=st.one_of(st.integers(0, 5), _values),
    protocol=st.one_of(st.sampled_from(tw.PROTOCOLS), _values),
    workload=st.one_of(st.sampled_from(tw.WORKLOADS), _values),
    extra=st.dictionaries(
        st.sampled_from(["vm_pages", "tlb_sets", "tlb_ways", "ack_timeout_spins",
                         "unmap_rate", "unmap_pages", "pages", "accesses", "seed_x",
                         "offline", "wait_irqs_off", "max_events", "initiator"]),
        _values, max_size=3),
)
def test_random_arguments_raise_clean_errors_or_run_to_an_outcome(cpus, sockets, protocol,
                                                                     workload, extra):
    # Keep runs that are valid small, so the property test stays fast.
    kw = dict(extra)
    kw.setdefault("max_events", 20_000)
    if workload == "uniform":
        kw.setdefault("accesses", 200)
    try:
        r = tw.simulate(cpus=cpus, sockets=sockets, protocol=protocol, workload=workload,
                        **kw)
    except (ValueError, TypeError) as e:
        assert str(e)        # a message, never an empty error
        return
    assert r.outcome in ("completed", "deadlock", "event_limit")
