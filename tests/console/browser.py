"""Helpers for the browser journeys: a real `crmgate serve` on loopback, Chromium through Playwright,
and the accessibility checks run inside the page."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CRMGATE = str(Path(sys.executable).with_name("crmgate"))
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
#: set to 1 to refresh the screenshots the docs show (docs/img/console-*.png)
UPDATE_DOCS_ENV = "CRMGATE_UPDATE_SCREENSHOTS"


def skip_reason() -> str | None:
    """Why the browser journeys cannot run here, or None. CI sets CRMGATE_REQUIRE_CHROMIUM=1: there a
    missing browser is a failure, not a skip."""
    reason = _missing()
    if reason is not None and os.environ.get("CRMGATE_REQUIRE_CHROMIUM") == "1":
        raise RuntimeError(f"CRMGATE_REQUIRE_CHROMIUM=1 but {reason}")
    return reason


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing: install Debian's Chromium (apt-get install -y chromium) to run the browser journeys"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing: pip install -e '.[test]'"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`crmgate serve` in ``cwd`` on a free loopback port; stderr drained in a thread (uvicorn logs
    every request, and a full pipe would stall it)."""

    def __init__(self, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        full_env = {k: v for k, v in os.environ.items() if k not in ("CRMGATE_TRAIL_KEY", "CRMGATE_CONFIG")}
        self.proc = subprocess.Popen([CRMGATE, "serve", "--host", "127.0.0.1", "--port", str(self.port)], cwd=cwd,
                                     env={**full_env, **(env or {})}, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.log: list[str] = []
        started = threading.Event()

        def drain() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                self.log.append(line)
                if "Uvicorn running on" in line:
                    started.set()
            started.set()

        threading.Thread(target=drain, daemon=True).start()
        if not started.wait(60) or self.proc.poll() is not None:
            self.stop()
            pytest.fail(f"crmgate serve did not start: {''.join(self.log)[-2000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def shoot(page, tmp_path: Path, name: str, *, full_page: bool = True) -> Path:
    """A screenshot in the test's folder (and in docs/img when refreshing the docs)."""
    out = tmp_path / f"{name}.png"
    page.screenshot(path=str(out), full_page=full_page)
    assert out.stat().st_size > 10_000  # a blank page is a few hundred bytes
    if os.environ.get(UPDATE_DOCS_ENV) == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copy(out, DOCS_IMG / out.name)
    return out


#: controls with no accessible name (no label[for], aria-label(ledby), wrapping label, or text)
UNLABELLED_JS = """() => [...document.querySelectorAll('input, select, textarea, button, a[href]')]
  .filter(el => el.type !== 'hidden' && el.offsetParent !== null)
  .filter(el => {
    if (el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')) return false;
    if (el.id && document.querySelector(`label[for="${el.id}"]`)) return false;
    if (el.closest('label')) return false;
    if ((el.tagName === 'BUTTON' || el.tagName === 'A') && el.textContent.trim()) return false;
    return true;
  }).map(el => el.outerHTML.slice(0, 120))"""

#: text whose contrast with its background is under WCAG AA (4.5:1; 3:1 for large text)
LOW_CONTRAST_JS = """() => {
  const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => { const f = c => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
                               return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const bg = el => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor);
                       if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3); } return [255, 255, 255]; };
  const bad = [];
  for (const el of document.querySelectorAll('body *')) {
    if (el.offsetParent === null || el.closest('svg')) continue;
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const st = getComputedStyle(el);
    const a = lum(rgb(st.color).slice(0, 3)), b = lum(bg(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const large = parseFloat(st.fontSize) >= 24 || (parseFloat(st.fontSize) >= 18.66 && parseInt(st.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) bad.push(`${el.tagName} "${el.textContent.trim().slice(0, 40)}" ${ratio.toFixed(2)}`);
  }
  return bad;
}"""


def tab_reaches(page, limit: int = 200) -> set[str]:
    """Press Tab from the top until focus comes back round; the ids/names/texts of what got focus."""
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    seen: list[str] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        key = page.evaluate("""() => { const e = document.activeElement; if (!e || e === document.body) return '';
            return e.id || (e.name ? e.name + '=' + (e.value || '') : '') || e.textContent.trim(); }""")
        if key and seen and key == seen[0]:
            break
        seen.append(key)
    return set(seen)
