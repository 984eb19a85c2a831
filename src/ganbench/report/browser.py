"""Open a page in headless Chromium and report what it rendered (for tests and CI).

Chromium is driven over the DevTools protocol on a loopback port (``127.0.0.1``,
port chosen by Chromium, read from ``DevToolsActivePort``) with a minimal stdlib
websocket client.  Host resolution is mapped away (``--host-resolver-rules``), so a
page that tries the network logs an error instead of loading anything.  The browser
is started in its own process group and stopped by that id.

:func:`inspect_page` returns a :class:`PageCheck`: console errors and uncaught
exceptions, every ``<img>`` with its ``naturalWidth``, the number of tables, SVGs and
canvases, and optionally a full-page PNG screenshot. :func:`open_page` gives a
:class:`Page` to drive (go to addresses, wait for what a script app renders, click
through it with scripts, take screenshots).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

#: What the page is asked after it loaded (returned by value as JSON).
PAGE_FACTS = """(() => {
  const imgs = Array.from(document.images).map(i => ({
    src: i.currentSrc.slice(0, 64), alt: i.alt, complete: i.complete, naturalWidth: i.naturalWidth}));
  return {title: document.title, tables: document.querySelectorAll('table').length,
          svgs: document.querySelectorAll('svg').length, canvases: document.querySelectorAll('canvas').length,
          images: imgs, scripts: Array.from(document.scripts).map(s => s.src).filter(Boolean),
          height: document.documentElement.scrollHeight};
})()"""


class BrowserError(RuntimeError):
    """Chromium did not start, or the DevTools session failed."""


@dataclass(frozen=True)
class ChromiumOptions:
    """How Chromium is started and how long to wait."""

    binary: str | None = None      # None: the first of CANDIDATES on PATH
    width: int = 1280
    height: int = 900
    timeout_s: float = 45.0
    max_screenshot_height: int = 20000


@dataclass
class PageCheck:
    """What the page showed: see the module docstring."""

    url: str
    title: str = ""
    tables: int = 0
    svgs: int = 0
    canvases: int = 0
    images: list[dict[str, Any]] = field(default_factory=list)
    scripts: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    screenshot: bytes | None = None

    @property
    def broken_images(self) -> list[dict[str, Any]]:
        return [i for i in self.images if not i["complete"] or i["naturalWidth"] <= 0]


def find_chromium() -> str | None:
    """The Chromium binary on PATH, or None."""
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


# ---------------------------------------------------------------------------- websocket


class _WebSocket:
    """Just enough RFC 6455 for a DevTools session: masked text frames out, frames in."""

    def __init__(self, url: str, timeout_s: float) -> None:
        assert url.startswith("ws://")
        hostport, _, path = url[len("ws://"):].partition("/")
        host, _, port = hostport.partition(":")
        if host not in ("127.0.0.1", "localhost"):
            raise BrowserError(f"refusing a non-loopback DevTools address {host}")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout_s)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise BrowserError("DevTools closed the websocket handshake")
            head += chunk
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status + b" ":
            raise BrowserError(f"DevTools websocket handshake failed: {status.decode(errors='replace')}")
        self.buf = bytearray(head.split(b"\r\n\r\n", 1)[1])

    def _read(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk:
                raise BrowserError("DevTools closed the websocket")
            self.buf += chunk
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def send(self, text: str, opcode: int = 1) -> None:
        payload = text.encode()
        n = len(payload)
        header = bytes([0x80 | opcode])
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def recv(self) -> str:
        parts: list[bytes] = []
        while True:
            b0, b1 = self._read(2)
            opcode, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            data = self._read(n)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            if opcode == 8:
                raise BrowserError("DevTools closed the websocket")
            if opcode == 9:
                self.send(data.decode(errors="replace"), opcode=10)
                continue
            if opcode in (0, 1, 2):
                parts.append(data)
                if b0 & 0x80:
                    return b"".join(parts).decode()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class _Session:
    """One DevTools page session: commands by id, events collected on the way."""

    def __init__(self, ws: _WebSocket) -> None:
        self.ws = ws
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params or {}}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise BrowserError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_event(self, method: str, deadline: float) -> dict[str, Any]:
        for ev in self.events:
            if ev["method"] == method:
                return ev
        while time.monotonic() < deadline:
            self.ws.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                msg = json.loads(self.ws.recv())
            except TimeoutError:
                break
            if "method" in msg:
                self.events.append(msg)
                if msg["method"] == method:
                    return msg
        raise BrowserError(f"no {method} within the time limit")

    def evaluate(self, expression: str) -> Any:
        res = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                             "awaitPromise": True})
        if "exceptionDetails" in res:
            raise BrowserError(f"page script failed: {res['exceptionDetails'].get('text')}")
        return res.get("result", {}).get("value")


def console_errors(events: list[dict[str, Any]]) -> list[str]:
    """Console errors, uncaught exceptions and error log entries (e.g. failed loads)."""
    out = []
    for ev in events:
        m, p = ev["method"], ev.get("params", {})
        if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            out.append("console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
        elif m == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            out.append("exception: " + str(d.get("exception", {}).get("description") or d.get("text")))
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            e = p["entry"]
            out.append(f"log ({e.get('source')}): {e.get('text')} {e.get('url', '')}".strip())
    return out


# ---------------------------------------------------------------------------- browser


@contextlib.contextmanager
def chromium(options: ChromiumOptions = ChromiumOptions()) -> Iterator[int]:
    """Start headless Chromium on a loopback DevTools port; yields the port; stops it."""
    binary = options.binary or find_chromium()
    if binary is None:
        raise BrowserError("Chromium is not installed (apt-get install -y chromium)")
    profile = Path(tempfile.mkdtemp(prefix="ganbench-chromium-"))
    log = (profile / "stderr.log").open("wb")
    cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", f"--user-data-dir={profile}",
           "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-sync",
           "--disable-background-networking", "--disable-component-update", "--disable-default-apps",
           "--mute-audio", "--hide-scrollbars", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
           f"--window-size={options.width},{options.height}", "about:blank"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + options.timeout_s
        while not (port_file.is_file() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (profile / "stderr.log").read_bytes()[-800:].decode(errors="replace")
                raise BrowserError(f"Chromium did not open its DevTools port: {tail}")
            time.sleep(0.05)
        yield int(port_file.read_text().split()[0])
    finally:
        _stop(proc)
        log.close()
        shutil.rmtree(profile, ignore_errors=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the browser's own process group (its id is the browser's pid)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _page_ws_url(port: int, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as resp:
                targets = json.loads(resp.read())
            pages = [t for t in targets if t.get("type") == "page" and t.get("webSocketDebuggerUrl")]
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise BrowserError("Chromium has no page target")
        time.sleep(0.1)


class Page:
    """A page in a running headless Chromium (:func:`open_page`): go to an address, wait
    for the rendered page to satisfy a JS expression, run scripts, take screenshots."""

    def __init__(self, session: _Session, options: ChromiumOptions) -> None:
        self.session = session
        self.options = options

    def goto(self, url: str, wait_for: str | None = None, timeout_s: float | None = None) -> None:
        """Load ``url`` (until its load event; a change of the ``#`` part alone loads
        nothing), then wait for ``wait_for`` if given."""
        deadline = time.monotonic() + (timeout_s or self.options.timeout_s)
        self.session.events = [ev for ev in self.session.events if ev["method"] != "Page.loadEventFired"]
        if "loaderId" in self.session.call("Page.navigate", {"url": url}):  # absent: same document
            self.session.wait_event("Page.loadEventFired", deadline)
        if wait_for:
            self.wait_for(wait_for, max(0.0, deadline - time.monotonic()))

    def wait_for(self, expression: str, timeout_s: float | None = None) -> Any:
        """Poll the JS ``expression`` until it is truthy; returns its value."""
        deadline = time.monotonic() + (self.options.timeout_s if timeout_s is None else timeout_s)
        while True:
            value = self.session.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"the page never satisfied {expression!r} (it shows: "
                                   f"{' '.join(str(self.text())[:300].split())!r})")
            time.sleep(0.2)

    def evaluate(self, expression: str) -> Any:
        return self.session.evaluate(expression)

    def text(self) -> str:
        """What the page shows as text (``document.body.innerText``)."""
        return self.session.evaluate("document.body ? document.body.innerText : ''") or ""

    def screenshot(self, full_page: bool = False) -> bytes:
        """A PNG of the viewport, or of the whole page (up to ``max_screenshot_height``)."""
        if full_page:
            height = min(int(self.session.evaluate("document.documentElement.scrollHeight")),
                         self.options.max_screenshot_height)
            self.session.call("Emulation.setDeviceMetricsOverride", {
                "width": self.options.width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        shot = self.session.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": full_page})
        return base64.b64decode(shot["data"])

    def console_errors(self) -> list[str]:
        time.sleep(0.2)  # let late console messages arrive
        self.session.call("Runtime.evaluate", {"expression": "0"})
        return console_errors(self.session.events)


@contextlib.contextmanager
def open_page(options: ChromiumOptions = ChromiumOptions()) -> Iterator[Page]:
    """Start headless Chromium and yield its blank :class:`Page`; stops the browser."""
    with chromium(options) as port:
        ws = _WebSocket(_page_ws_url(port, options.timeout_s), options.timeout_s)
        try:
            session = _Session(ws)
            for domain in ("Runtime.enable", "Log.enable", "Page.enable"):
                session.call(domain)
            yield Page(session, options)
            with contextlib.suppress(BrowserError, OSError):
                session.call("Browser.close")
        finally:
            ws.close()


def inspect_page(path_or_url: str | Path, options: ChromiumOptions = ChromiumOptions(), *,
                 wait_for: str | None = None, screenshot: bool = False) -> PageCheck:
    """Load a file (or URL) and report what rendered.  ``wait_for``: a JS expression
    polled after the load event until truthy (e.g. an async chart drew its SVG)."""
    url = Path(path_or_url).resolve().as_uri() if not str(path_or_url).startswith(("file:", "http:")) \
        else str(path_or_url)
    with open_page(options) as page:
        page.goto(url, wait_for=wait_for)
        facts = page.evaluate(PAGE_FACTS)
        check = PageCheck(url=url, title=facts["title"], tables=facts["tables"], svgs=facts["svgs"],
                          canvases=facts["canvases"], images=facts["images"], scripts=facts["scripts"])
        if screenshot:
            check.screenshot = page.screenshot(full_page=True)
        check.console_errors = page.console_errors()
        return check
