"""What a learner at the back of the room would notice, measured from bounding boxes.

``layout_problems(page)`` returns one sentence per problem among the widgets on screen:

* text in a chart that spills out of its figure, or overlaps other text of that figure
  (tick labels that crowd into "78910", headers running into each other);
* axis tick labels smaller than ``MIN_TICK_PX`` (illegible from the back of a room);
* a button, toggle, label or readout whose text is cut (its content is wider than its box);
* a widget, chart or table that reaches past the right edge of whatever clips it (the
  output area, a tab, the window), so part of it cannot be seen without scrolling.

Hidden elements (a tab that is not selected, a collapsed box) are skipped: they are checked
when they are shown.
"""

from __future__ import annotations

__all__ = ["MIN_TICK_PX", "layout_problems"]

MIN_TICK_PX = 14

_JS = r"""(minTickPx) => {
  const problems = [];
  const shown = (el) => {
    const r = el.getBoundingClientRect();
    if (r.width <= 0 || r.height <= 0) return false;
    for (let e = el; e; e = e.parentElement) {
      const cs = getComputedStyle(e);
      if (cs.display === 'none' || cs.visibility === 'hidden' || cs.opacity === '0') return false;
    }
    return true;
  };
  const name = (el) => (el.textContent || '').trim().slice(0, 40);
  const title = (el) => {
    const fig = el.closest('.bqplot') || el;
    const t = fig.querySelector('.mainheading');
    return t && name(t) ? `'${name(t)}'` : 'a chart';
  };
  // ---- charts ------------------------------------------------------------------
  // A figure draws its axes in one SVG and its marks (labels included) in another.
  for (const fig of document.querySelectorAll('.bqplot')) {
    if (!shown(fig)) continue;
    const box = fig.getBoundingClientRect();
    const texts = [...fig.querySelectorAll('svg text')]
      .filter(t => name(t).length > 0 && shown(t));
    const rects = texts.map(t => t.getBoundingClientRect());
    texts.forEach((t, i) => {
      const r = rects[i];
      if (r.left < box.left - 2 || r.right > box.right + 2 || r.top < box.top - 2
          || r.bottom > box.bottom + 2) {
        problems.push(`text '${name(t)}' is cut at the edge of ${title(fig)}`);
      }
      if (t.closest('.tick')) {
        const px = parseFloat(getComputedStyle(t).fontSize);
        if (px < minTickPx) {
          problems.push(`tick label '${name(t)}' of ${title(fig)} is ${px}px (< ${minTickPx}px)`);
        }
      }
    });
    for (let i = 0; i < texts.length; i++) {
      for (let j = i + 1; j < texts.length; j++) {
        const a = rects[i], b = rects[j];
        const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
        const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
        if (w > 1.5 && h > 1.5) {
          problems.push(`texts '${name(texts[i])}' and '${name(texts[j])}' overlap `
                        + `in ${title(fig)}`);
        }
      }
    }
  }
  // ---- controls whose text is cut ----------------------------------------------
  const cut = '.widget-button, .widget-toggle-button, .widget-label, .widget-readout, '
            + '.widget-label-basic, .widget-dropdown select, .widget-inline-hbox label';
  for (const el of document.querySelectorAll(cut)) {
    if (!shown(el) || !name(el)) continue;
    if (el.scrollWidth > el.clientWidth + 1) {
      problems.push(`'${name(el)}' is cut (${el.scrollWidth}px of text in ${el.clientWidth}px)`);
    }
  }
  // ---- widgets past the right edge of what clips them ---------------------------
  // The visible right edge: the nearest of the window's and of every ancestor that
  // clips or scrolls its overflow (a table in a scrolling output area is cut too).
  const visibleRight = (el) => {
    let right = window.innerWidth;
    for (let e = el.parentElement; e && e !== document.documentElement; e = e.parentElement) {
      const cs = getComputedStyle(e);
      if (['hidden', 'auto', 'scroll', 'clip'].includes(cs.overflowX)) {
        right = Math.min(right, e.getBoundingClientRect().left + e.clientWidth);
      }
    }
    return right;
  };
  const blocks = '.bqplot, .widget-html-content table, .jp-RenderedHTMLCommon table, '
               + '.widget-button, .widget-toggle-buttons, .widget-slider, .widget-dropdown, '
               + '.widget-text, .widget-select-multiple, .widget-tab';
  for (const el of document.querySelectorAll(blocks)) {
    if (!shown(el)) continue;
    const r = el.getBoundingClientRect();
    const right = visibleRight(el);
    if (r.right > right + 2) {
      const what = el.classList.contains('bqplot')
        ? `chart ${title(el)}`
        : `${el.tagName.toLowerCase()} '${name(el)}'`;
      problems.push(`${what} reaches ${Math.round(r.right - right)}px past the visible edge`);
    }
  }
  return [...new Set(problems)];
}"""


def layout_problems(page) -> list[str]:
    """Every layout problem on the page now (empty when a learner sees everything)."""
    return page.evaluate(_JS, MIN_TICK_PX)
