"""Seeded draws for the workload generators, faster than NumPy's own calls
and bit-identical to them.

* :func:`think` and its halves draw exactly what ``Generator.geometric``
  draws and return the same values, in half the time;
* :func:`integers_at` returns the picked positions of a
  ``Generator.integers(0, high, size=n)`` call without computing the rest,
  and leaves the generator exactly where that call leaves it.

``tests/test_workloads.py`` compares each with the NumPy call it replaces,
so a NumPy release that changes its algorithms fails those tests.
"""

import math

import numpy as np

from ._jit import jit

__all__ = ["think", "think_draw", "think_finish", "integers_at", "pcg_jump", "pcg_output",
           "JUMP_MIN_DRAWS"]


# numpy's Generator.geometric(p) draws by search for p >= this bound and, below
# it, by inversion: ceil(-E / log1p(-p)) with E = one standard exponential,
# saturated at INT64_MAX (numpy/random/src/distributions/distributions.c,
# random_geometric and random_geometric_inversion).  think_finish applies
# that formula to Generator.standard_exponential draws: the same stream, the
# same values (tests/test_workloads.py compares them), in half the time.
_GEOMETRIC_SEARCH_P = 0.333333333333333333333333
_INT64_OVERFLOW = 9.223372036854776e18   # 2**63: the first double past INT64_MAX
_INT64_MAX = np.iinfo(np.int64).max


def think(rng, n, mean, out=None):
    """Think times: geometric with the given mean (0 -> all zero).

    Draws exactly what ``rng.geometric(1 / (mean + 1), size=n) - 1`` draws and
    returns the same int64 values; written into ``out`` (length ``n``) if given.
    """
    if out is None:
        out = np.empty(n, dtype=np.int64)
    raw = np.empty(n)
    think_draw(rng, mean, out, raw)
    think_finish(mean, out, raw)
    return out


def think_draw(rng, mean, out, raw):
    """Draw one CPU's think times: exactly the draws of ``rng.geometric(1 /
    (mean + 1), size=len(out))`` (none for ``mean <= 0``), kept in ``out``
    (int64) or ``raw`` (float64) until :func:`think_finish` turns them into
    cycles -- possibly for a whole block of CPUs at once."""
    if mean <= 0:
        return
    p = 1.0 / (mean + 1)
    if p >= _GEOMETRIC_SEARCH_P:
        out[:] = rng.geometric(p, size=len(out))
    else:
        rng.standard_exponential(out=raw)


def think_finish(mean, out, raw):
    """The think times (geometric - 1) from the draws of :func:`think_draw`."""
    if mean <= 0:
        out[:] = 0
        return
    p = 1.0 / (mean + 1)
    if p < _GEOMETRIC_SEARCH_P:
        # -E / log1p(-p) and E / -log1p(-p) round identically (IEEE division
        # is sign-symmetric); math.log1p and numpy's npy_log1p are both libm's.
        _inverted_geometric_minus_one(raw, -math.log1p(-p), out)
    else:
        out -= 1


@jit
def _inverted_geometric_minus_one(raw, scale, out):
    """``out = ceil(raw / scale) - 1``, saturated as numpy saturates the
    geometric draw (INT64_MAX, then minus one): one pass, where numpy's
    divide, ceil, cast and subtract would make four."""
    for i in range(raw.shape[0]):
        x = np.ceil(raw[i] / scale)
        out[i] = (_INT64_MAX if x >= _INT64_OVERFLOW else np.int64(x)) - 1


# numpy's Generator.integers(0, high) for high <= 2**32 draws 32-bit values
# from the bit generator (PCG64: the low then the high half of each 64-bit
# output; a high half left over waits in the generator's state for the next
# 32-bit draw) and maps each by Lemire's multiply-shift, redrawing when the
# low 32 bits of the product fall below (2**32 - high) % high: never for a
# power of two, whose value is then the top bits of the 32-bit draw
# (numpy/random/src/distributions/distributions.c,
# buffered_bounded_lemire_uint32; numpy/random/src/pcg64/pcg64.h,
# pcg64_next32).  PCG64 is a 128-bit LCG with an output function
# (O'Neill, "PCG: A Family of Simple Fast Space-Efficient Statistically
# Good Algorithms for Random Number Generation", 2014, sections 4.3.3 and
# 6.3.3), so the outputs at a few positions of a long stream can be
# computed by jumping (Brown, "Random Number Generation with Arbitrary
# Strides", 1994) instead of drawing the whole stream.  integers_at uses
# that for the unmap starts of `uniform`, of which only the unmaps' are
# used; tests/test_workloads.py compares it with Generator.integers.
_U64 = np.uint64
_LOW32 = _U64(0xFFFFFFFF)
_PCG_MULT_HI = _U64(2549297995355413924)     # PCG_DEFAULT_MULTIPLIER_128
_PCG_MULT_LO = _U64(4865540595714422341)
# Jumps cost about as much as drawing this many values: denser picks draw.
_JUMP_COST_DRAWS = 64
# Below this many values, the fixed cost of jumping (reading and setting the
# generator's state) is more than drawing them all.
JUMP_MIN_DRAWS = 1024


@jit
def _add64(a, b):
    """``a + b`` modulo 2**64 for uint64 (written so that NumPy, with numba's
    jit disabled, has no overflow to warn about)."""
    room = _U64(0xFFFFFFFFFFFFFFFF) - b
    return a - room - _U64(1) if a > room else a + b


@jit
def _mul64(a, b):
    """The 128-bit product of two uint64 as (high, low) words (from 32-bit
    halves, whose products and sums here fit in 64 bits)."""
    a0, a1, b0, b1 = a & _LOW32, a >> _U64(32), b & _LOW32, b >> _U64(32)
    p00, p01, p10 = a0 * b0, a0 * b1, a1 * b0
    mid = (p00 >> _U64(32)) + (p01 & _LOW32) + (p10 & _LOW32)
    return (a1 * b1 + (p01 >> _U64(32)) + (p10 >> _U64(32)) + (mid >> _U64(32)),
            ((mid & _LOW32) << _U64(32)) | (p00 & _LOW32))


@jit
def _mul128(ah, al, bh, bl):
    """(ah, al) * (bh, bl) modulo 2**128, as (high, low) words."""
    hi, lo = _mul64(al, bl)
    return _add64(_add64(hi, _mul64(ah, bl)[1]), _mul64(al, bh)[1]), lo


@jit
def _add128(ah, al, bh, bl):
    lo = _add64(al, bl)
    return _add64(_add64(ah, bh), _U64(1) if lo < al else _U64(0)), lo


@jit
def pcg_jump(sh, sl, ih, il, steps):
    """The PCG64 state ``steps`` (>= 0) steps after (sh, sl), increment (ih, il)."""
    mh, ml, ph, pl = _PCG_MULT_HI, _PCG_MULT_LO, ih, il     # one step: s * m + p
    amh, aml, aph, apl = _U64(0), _U64(1), _U64(0), _U64(0)  # the jump so far
    while steps > 0:
        if steps & 1:
            amh, aml = _mul128(amh, aml, mh, ml)
            th, tl = _mul128(aph, apl, mh, ml)
            aph, apl = _add128(th, tl, ph, pl)
        th, tl = _add128(mh, ml, _U64(0), _U64(1))
        ph, pl = _mul128(th, tl, ph, pl)                    # two steps: s * m^2 + (m + 1) p
        mh, ml = _mul128(mh, ml, mh, ml)
        steps >>= 1
    th, tl = _mul128(amh, aml, sh, sl)
    return _add128(th, tl, aph, apl)


@jit
def pcg_output(sh, sl):
    """PCG64's 64-bit output of a state (XSL-RR)."""
    rot = sh >> _U64(58)
    x = sh ^ sl
    return (x >> rot) | (x << ((_U64(64) - rot) & _U64(63)))


@jit
def _pow2_draws_at(sh, sl, ih, il, has_carry, carry, shift, n_words, at, out):
    """``out[k]``: the value at position ``at[k]`` (ascending) of Lemire
    draws by a power of two, ``2**(32 - shift)``, from PCG64 state (sh, sl)
    with a pending high half ``carry`` if ``has_carry``; ``n_words`` outputs
    are consumed.  Returns the last of them and the state after it."""
    pos = 0                             # outputs generated so far
    word = _U64(0)                      # the last of them
    for k in range(at.shape[0]):
        half = at[k] - has_carry        # -1: the pending half
        if half < 0:
            x = carry
        else:
            if half >> 1 >= pos:
                sh, sl = pcg_jump(sh, sl, ih, il, (half >> 1) - pos + 1)
                word = pcg_output(sh, sl)
                pos = (half >> 1) + 1
            x = (word >> _U64(32)) if half & 1 else (word & _LOW32)
        out[k] = np.int64(x >> shift)
    if n_words > pos:
        sh, sl = pcg_jump(sh, sl, ih, il, n_words - pos)
        word = pcg_output(sh, sl)
    return word, sh, sl


def integers_at(rng, high, n, at):
    """``rng.integers(0, high, size=n)[at]`` for ascending positions ``at``,
    leaving ``rng`` exactly where that call leaves it; for a PCG64 generator
    and a power-of-two ``high`` only the picked values are computed."""
    at = np.asarray(at, dtype=np.int64)
    bits = high.bit_length() - 1
    bg = rng.bit_generator
    if (type(bg) is not np.random.PCG64 or n < JUMP_MIN_DRAWS or high < 2
            or high > 2**32 or high != 1 << bits or len(at) * _JUMP_COST_DRAWS > n):
        return rng.integers(0, high, size=n)[at]
    full = bg.state
    has_carry, carry = full["has_uint32"], full["uinteger"]
    state, inc = full["state"]["state"], full["state"]["inc"]
    halves = n - has_carry              # 32-bit halves of outputs consumed
    n_words = (halves + 1) // 2
    out = np.empty(len(at), dtype=np.int64)
    word, sh, sl = _pow2_draws_at(
        _U64(state >> 64), _U64(state & 0xFFFFFFFFFFFFFFFF), _U64(inc >> 64),
        _U64(inc & 0xFFFFFFFFFFFFFFFF), has_carry, _U64(carry), _U64(32 - bits),
        n_words, at, out)
    full["state"]["state"] = (int(sh) << 64) | int(sl)
    if halves:                          # else the call only took the pending half
        full["uinteger"] = int(word) >> 32
    full["has_uint32"] = halves & 1
    bg.state = full
    return out
