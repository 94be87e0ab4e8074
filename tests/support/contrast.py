"""WCAG contrast of every piece of text on a page, measured in the browser.

``LOW_CONTRAST`` is a function for ``page.evaluate``: for each visible element with text of its
own, the WCAG 2 contrast ratio of its colour against the first opaque background behind it
(walking up the tree); it returns those below the minimum (4.5:1 for normal text, 3:1 for
large: 24 px, or 18.66 px bold). Backgrounds are taken as solid colours: the console draws
none with images or gradients.
"""

from __future__ import annotations

from typing import Final

LOW_CONTRAST: Final = """
(minimum) => {
  const parse = (text) => {
    const m = text.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const [r, g, b, a = 1] = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return { r, g, b, a };
  };
  const lum = ({ r, g, b }) => {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (node) => {
    for (let n = node; n && n.nodeType === 1; n = n.parentElement) {
      const bg = parse(getComputedStyle(n).backgroundColor);
      if (bg && bg.a > 0.5) return bg;
    }
    const dark = matchMedia("(prefers-color-scheme: dark)").matches;
    return dark ? { r: 0, g: 0, b: 0 } : { r: 255, g: 255, b: 255 };
  };
  const low = [];
  for (const node of document.body.querySelectorAll("*")) {
    const own = [...node.childNodes].some((c) => c.nodeType === 3 && c.textContent.trim());
    if (!own || !node.getClientRects().length) continue;
    const style = getComputedStyle(node);
    if (style.visibility === "hidden" || style.clip === "rect(0px, 0px, 0px, 0px)") continue;
    const fg = parse(style.color);
    const bg = background(node);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    const wanted = large ? 3 : minimum;
    if (ratio < wanted) {
      const text = node.textContent.trim().slice(0, 40);
      low.push(`${node.tagName}.${node.className} "${text}": ${ratio.toFixed(2)} < ${wanted}`);
    }
  }
  return low;
}
"""
