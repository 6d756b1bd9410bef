"""The kiosk on the 7-inch screens it runs on, in Chromium: the official Raspberry Pi touchscreen
(800x480) and the common 1024x600 panel, both 7 inches across.

In every state staff see (waiting with a vehicle registered, a verdict with its follow-up, a
re-measure, offline with verdicts waiting, each dialog) and in both languages, at both sizes: nothing
is cut off or overlaps, every touch target is at least 9 mm at the screen's density, the verdict is
at least 12 mm tall with a contrast of 4.5:1 or more (readable from two metres), and the link and
outbox indicator is on screen. The spoken prompt is checked by what the page's audio element played.
Screenshots go to the test's folder, and to $KIOSK_SCREENSHOTS when set (docs/kiosk/ was made so).
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from checkpoint.broker import Broker
from contract.messages import CodeColour
from tests.agent.test_kiosk_browser import Box, box  # noqa: F401  (the fixture)

pytestmark = pytest.mark.browser

SCREENS = {"800x480": (800, 480, 7.0), "1024x600": (1024, 600, 7.0)}  # width, height, diagonal (inches)
TOUCH_MM = 9.0
VERDICT_MM = 12.0  # letters this tall read at 2 m (about 1:170, a signage rule of thumb with margin)
CONTRAST = 4.5

LAYOUT = """
({ touch }) => {
  const W = innerWidth, H = innerHeight, problems = [], say = (text) => problems.push(text);
  const shown = (el) => { const r = el.getBoundingClientRect(), s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== "hidden" && s.display !== "none"; };
  const name = (el) => "#" + (el.id || el.dataset.testid || el.getAttribute("name") ||
    `${el.tagName.toLowerCase()}(${el.textContent.trim().slice(0, 16)})`);
  const box = (el) => {  // the element, or the text in it where the text runs past it
    const r = el.getBoundingClientRect();
    if (el.children.length || !el.textContent.trim()) return r;
    const range = document.createRange(); range.selectNodeContents(el);
    const t = range.getBoundingClientRect();
    const left = Math.min(r.left, t.left), top = Math.min(r.top, t.top);
    return new DOMRect(left, top, Math.max(r.right, t.right) - left, Math.max(r.bottom, t.bottom) - top);
  };
  const root = document.documentElement;
  if (root.scrollWidth > W || root.scrollHeight > H) say(`the page scrolls (${root.scrollWidth}x${root.scrollHeight})`);
  const dialog = document.querySelector("dialog[open]");
  const scopes = dialog ? [dialog] : ["header", "main", "footer", "#error"].map((s) => document.querySelector(s));
  const all = scopes.filter((s) => s && shown(s)).flatMap((s) => [s, ...s.querySelectorAll("*")]).filter(shown);
  const main = document.querySelector("main").getBoundingClientRect();
  for (const el of all) {
    const r = box(el), inMain = !dialog && el.closest("main");
    const off = r.left < -0.5 || r.top < -0.5 || r.right > W + 0.5 || r.bottom > H + 0.5;
    if (off) say(`${name(el)} is cut off by the screen`);
    else if (inMain && (r.bottom > main.bottom + 0.5 || r.right > main.right + 0.5)) say(`${name(el)} cut off by main`);
    const block = !["inline", "contents"].includes(getComputedStyle(el).display);
    const spills = el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1;
    if (el.children.length === 0 && el.textContent.trim() && block && spills) say(`${name(el)}: its text does not fit`);
  }
  const parts = all.filter((el) => el.matches("button, input[name], fieldset label, dialog h3, .tile, #link, #where, "
    + "#venue, #vehicle-now, #decision, #who, #temp, #reasons li, #followup-box, #remeasure-banner, #error, "
    + "dialog label > span"));
  for (let i = 0; i < parts.length; i++) for (let j = i + 1; j < parts.length; j++) {
    const a = parts[i], b = parts[j];
    if (a.contains(b) || b.contains(a)) continue;
    const p = box(a), q = box(b);
    const w = Math.min(p.right, q.right) - Math.max(p.left, q.left);
    const h = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
    if (w > 1 && h > 1) say(`${name(a)} overlaps ${name(b)}`);
  }
  for (const el of all.filter((el) => el.matches("button, input[name]:not([type=radio]), fieldset label"))) {
    const r = el.getBoundingClientRect(), size = `${Math.round(r.width)}x${Math.round(r.height)} px`;
    if (r.width < touch || r.height < touch) say(`${name(el)} is ${size}, under ${touch.toFixed(0)} px`);
  }
  const decision = document.getElementById("decision"), panel = document.getElementById("verdict");
  const verdict = shown(decision) ? { size: parseFloat(getComputedStyle(decision).fontSize),
    fg: getComputedStyle(decision).color, bg: getComputedStyle(panel).backgroundColor } : null;
  const link = document.getElementById("link");
  return { problems, verdict, link: shown(link) ? link.textContent : null };
}
"""


def px_per_mm(width: int, height: int, inches: float) -> float:
    return math.hypot(width, height) / inches / 25.4


def luminance(css: str) -> float:
    channels = [int(c) / 255 for c in css[css.index("(") + 1 : css.index(")")].split(",")[:3]]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(fg: str, bg: str) -> float:
    high, low = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def check(kiosk: Box, state: str, *, verdict: bool = False) -> str | None:
    """Every screen size: lay the page out, report what is wrong, take a screenshot. The link text."""
    page, link = kiosk.page, None
    for screen, (width, height, inches) in SCREENS.items():
        page.set_viewport_size({"width": width, "height": height})
        density = px_per_mm(width, height, inches)
        report = page.evaluate(LAYOUT, {"touch": TOUCH_MM * density})
        shot = kiosk.shots / f"kiosk-{state}-{screen}.png"
        page.screenshot(path=str(shot))
        if target := os.environ.get("KIOSK_SCREENSHOTS"):
            shutil.copy(shot, Path(target) / shot.name)
        assert report["problems"] == [], f"{state} at {screen}: {report['problems']} (see {shot})"
        if verdict:
            shown = report["verdict"]
            assert shown is not None, f"{state} at {screen}: no verdict shown"
            assert shown["size"] / density >= VERDICT_MM, (
                f"{state} at {screen}: verdict {shown['size'] / density:.1f} mm"
            )
            assert contrast(shown["fg"], shown["bg"]) >= CONTRAST, f"{state} at {screen}: {shown}"
        link = report["link"]
    return link


def played(kiosk: Box, prompt: str) -> None:
    """The page's audio element played (some of) /static/voice/<prompt>.wav."""
    kiosk.page.wait_for_function(
        """(name) => { const a = document.getElementById("voice");
           return a.src.endsWith(`/static/voice/${name}.wav`) && !a.error && a.played.length > 0
             && a.played.end(0) > 0.3; }""",
        arg=prompt,
        timeout=10_000,
    )


def test_every_state_fits_both_7_inch_screens_and_speaks(box: Box, broker: Broker) -> None:  # noqa: F811
    page = box.page
    expect(page.get_by_test_id("link")).to_contain_text("在线", timeout=10_000)
    page.get_by_test_id("btn-vehicle").click()
    check(box, "vehicle-dialog")
    page.get_by_test_id("vehicle-plate").fill("粤B12345")
    page.get_by_test_id("vehicle-origin").fill("440305")
    page.get_by_test_id("vehicle-destination").fill("深圳市南山区科技园")
    page.get_by_test_id("vehicle-ok").click()
    expect(page.get_by_test_id("vehicle-now")).to_contain_text("粤B12345", timeout=5_000)
    check(box, "waiting")
    page.get_by_test_id("lang").click()
    check(box, "waiting-en")
    page.get_by_test_id("lang").click()

    box.present(box.traveller(colour=CodeColour.RED))
    expect(page.get_by_test_id("decision")).to_have_text("禁止通行", timeout=20_000)
    played(box, "manual")
    check(box, "deny", verdict=True)
    page.get_by_test_id("lang").click()
    check(box, "deny-en", verdict=True)
    page.get_by_test_id("lang").click()
    page.get_by_test_id("btn-override").click()
    check(box, "override-dialog")
    page.locator("#dlg-override button[value=cancel]").click()
    box.leave()

    box.present(box.traveller(temps=(38.3,)))
    expect(page.get_by_test_id("remeasure-banner")).to_be_visible(timeout=20_000)
    played(box, "remeasure")
    check(box, "remeasure")
    box.leave()

    broker.stop()
    expect(page.get_by_test_id("link")).to_contain_text("离线", timeout=15_000)
    box.present(box.traveller())
    expect(page.get_by_test_id("decision")).to_have_text("通行", timeout=20_000)
    played(box, "pass")
    expect(page.get_by_test_id("link")).to_contain_text("待上传", timeout=5_000)
    link = check(box, "offline-pass", verdict=True)
    assert link is not None and "离线" in link and "待上传" in link


@pytest.mark.parametrize("box", [{"voice": False}], indirect=True)
def test_the_voice_is_off_by_a_setting(box: Box) -> None:  # noqa: F811
    page = box.page
    box.present(box.traveller())
    expect(page.get_by_test_id("decision")).to_have_text("通行", timeout=20_000)
    assert page.evaluate("() => document.getElementById('voice').getAttribute('src')") is None
