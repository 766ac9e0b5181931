"""What a page did during a test (requests, failures, console errors, CSP violations)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import Page

# Chromium reports a blocked resource or inline code on the console with this wording.
CSP_CONSOLE_MARKER = "Content Security Policy"

# Runs before any page script (CDP injection is not subject to the page's CSP), so every violation the
# page triggers is recorded, including those raised while the <head> is parsed.
CSP_RECORDER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push({directive: e.violatedDirective, blocked: e.blockedURI, line: e.lineNumber,
                               source: e.sourceFile, sample: e.sample});
});
"""

LOCAL_SCHEMES = {"data", "blob", "about"}


@dataclass
class PageLog:
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def off_host(self, host: str = "127.0.0.1") -> list[str]:
        """Requests that left the machine: anything but the server itself and inline data."""
        parts = [(u, urlsplit(u)) for u in self.requests]
        return [u for u, p in parts if p.scheme not in LOCAL_SCHEMES and p.hostname != host]

    def watch(self, page: Page) -> None:
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("requestfailed", lambda r: self.failed.append(f"{r.url} ({r.failure})"))
        page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.console_errors.append(f"uncaught: {e}"))

    async def csp_violations(self, page: Page) -> list[Any]:
        """Both what the page's `securitypolicyviolation` events recorded and what the console reported."""
        events: list[Any] = await page.evaluate("() => window.__cspViolations || []")
        return [*events, *(m for m in self.console_errors if CSP_CONSOLE_MARKER in m)]
