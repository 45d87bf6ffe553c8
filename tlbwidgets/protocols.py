"""The shootdown protocols: names, one-line lessons, sources, and the
per-protocol defaults of the machine options.  The steps of each protocol are
documented where they are implemented (``tlbwidgets/engine/_*.py``) and in
``docs/protocols.md``."""

from types import MappingProxyType

__all__ = ["PROTOCOLS", "PROTOCOL_INFO", "IMPLEMENTED", "protocol_defaults"]

PROTOCOLS = ("mailbox", "mailbox_fixed", "linux", "broadcast", "latr", "global_lock")

# Which protocols the engine can play today.
IMPLEMENTED = ("mailbox", "mailbox_fixed", "global_lock", "broadcast", "latr", "linux")

PROTOCOL_INFO = MappingProxyType({
    "mailbox": {
        "title": "Per-CPU mailboxes (the seed)",
        "source": "strat9 kernel, arch/x86_64/tlb.rs (Asterinas-style mailboxes)",
        "lesson": "Simple and lock-light, but one shared ACK flag per target, a "
                  "give-up timeout and a page count that rounds byte ranges down turn "
                  "races, long interrupts-off sections and short ranges into silent use "
                  "of stale translations.",
        "full_threshold_pages": 64,
    },
    "mailbox_fixed": {
        "title": "Mailboxes, repaired",
        "source": "the seed with per-target sequence numbers (as in Linux's per-CSD "
                  "flags) and no give-up",
        "lesson": "Waiting for *your own* op to be performed, never giving up and "
                  "rounding byte ranges outward remove the seed's hazards at almost "
                  "no cost.",
        "full_threshold_pages": 64,
    },
    "linux": {
        "title": "Linux x86 (flush_tlb_mm_range)",
        "source": "Linux arch/x86/mm/tlb.c, kernel/smp.c",
        "lesson": "Target only CPUs that may hold the mm, skip lazy CPUs, merge "
                  "flushes by generation, and flush locally while remotes work.",
        "full_threshold_pages": 33,
    },
    "broadcast": {
        "title": "Hardware broadcast invalidation (INVLPGB/TLBSYNC)",
        "source": "AMD64 APM vol. 3 (INVLPGB, TLBSYNC); Arm TLBI ... IS",
        "lesson": "No IPIs and no interrupted CPUs: the fabric does the work, "
                  "serialised.",
        "full_threshold_pages": 64,
    },
    "latr": {
        "title": "Lazy translation coherence (LATR)",
        "source": "Kumar et al., LATR, ASPLOS 2018",
        "lesson": "Return at once and let CPUs flush at their next tick: cheap for "
                  "the initiator, but pages wait longer before reuse.",
        "full_threshold_pages": 64,
    },
    "global_lock": {
        "title": "One global lock and a shared ACK mask",
        "source": "early Linux / Mach-style shootdown (Black et al., 1989)",
        "lesson": "Correct but serial: concurrent shootdowns queue on one lock and "
                  "one bouncing cache line.",
        "full_threshold_pages": 64,
    },
})


def protocol_defaults(name):
    """Machine-option defaults that depend on the protocol."""
    info = PROTOCOL_INFO[name]
    return {"full_threshold_pages": info["full_threshold_pages"]}
