"""The explorer app on a machine that has never compiled the engine: the page shows the
explorer and says it is compiling before the first run ends, instead of only Voila's spinner."""

from __future__ import annotations

import re
import time

import pytest

COMPILING = "compiling the engine for mailbox (first run on this machine)"
RENDER_TIMEOUT_MS = 600_000


@pytest.fixture
def cold_numba_cache(tmp_path, monkeypatch):
    """An empty numba cache for the servers this test starts (set before ``voila``)."""
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba-cache"))
    monkeypatch.delenv("NUMBA_DISABLE_JIT", raising=False)


@pytest.mark.slow
def test_the_app_says_it_is_compiling_before_its_first_run_is_shown(cold_numba_cache, voila,
                                                                     page):
    server = voila("app.ipynb")
    t0 = time.monotonic()
    page.goto(server.url)
    page.get_by_text(COMPILING).first.wait_for(timeout=RENDER_TIMEOUT_MS)
    compiling_s = time.monotonic() - t0
    assert page.locator("progress").count() >= 1          # the bar is drawn with it
    assert page.get_by_text(re.compile(r"shown: ")).count() == 0
    page.get_by_text(re.compile(r"shown: ")).first.wait_for(timeout=RENDER_TIMEOUT_MS)
    shown_s = time.monotonic() - t0
    print(f"\ncold app: compiling status after {compiling_s:.1f} s, "
          f"first run shown after {shown_s:.1f} s")
