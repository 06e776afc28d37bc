"""Headless Chromium driven over the DevTools protocol on a pipe (no websocket, no extra package).

`--remote-debugging-pipe` makes Chromium read commands from fd 3 and write
replies and events to fd 4, each a JSON object ended by a NUL byte. Every
network request the page starts is seen as a `Network.requestWillBeSent`
event; the browser is also told that no host resolves and that the only proxy
is a closed port, so a request that slipped past would fail, not leak.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TIMEOUT = 60.0


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class Page:
    """What loading a page showed: requests made, chart boxes, a full-page screenshot."""

    requests: list[str] = field(default_factory=list)
    boxes: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)
    png: bytes = b""
    scripts_enabled: bool = False


class Browser:
    def __init__(self, binary: str) -> None:
        self.profile = tempfile.mkdtemp(prefix="convlog-chromium-")
        commands_r, self._commands_w = os.pipe()
        self._replies_r, replies_w = os.pipe()

        def fds() -> None:  # in the child: the two pipe ends at the fds Chromium expects
            os.dup2(commands_r, 200)  # out of the way first: either end may be fd 3 or 4
            os.dup2(replies_w, 201)
            os.dup2(200, 3)
            os.dup2(201, 4)

        self.process = subprocess.Popen(
            [binary, "--headless", "--remote-debugging-pipe", "--no-sandbox",
             "--disable-gpu", "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--hide-scrollbars",
             "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
             f"--user-data-dir={self.profile}", "about:blank"],
            preexec_fn=fds, pass_fds=(3, 4, commands_r, replies_w),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(commands_r)
        os.close(replies_w)
        self._next_id = 0
        self._buffer = b""
        self.events: list[dict[str, Any]] = []

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError, TimeoutError):
            self.send("Browser.close")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._commands_w)
        os.close(self._replies_r)
        shutil.rmtree(self.profile, ignore_errors=True)

    def _read_message(self) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("chromium sent nothing for a minute")
            chunk = os.read(self._replies_r, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        decoded: dict[str, Any] = json.loads(message)
        return decoded

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        os.write(self._commands_w, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read_message()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def wait_for(self, method: str) -> dict[str, Any]:
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self._read_message()
            self.events.append(event)
            if event.get("method") == method:
                return event


def load(binary: str, path: Path, *, selector: str, width: int = 1000) -> Page:
    """Open `path`, note every request, find each `selector` box, screenshot the page."""
    browser = Browser(binary)
    try:
        target = browser.send("Target.createTarget", url="about:blank")["targetId"]
        session = browser.send("Target.attachToTarget", targetId=target,
                               flatten=True)["sessionId"]
        browser.send("Network.enable", session)
        browser.send("Page.enable", session)
        browser.send("Emulation.setDeviceMetricsOverride", session, width=width, height=900,
                     deviceScaleFactor=1, mobile=False)
        browser.events.clear()
        browser.send("Page.navigate", session, url=path.resolve().as_uri())
        browser.wait_for("Page.loadEventFired")
        page = Page()
        page.requests = [e["params"]["request"]["url"] for e in browser.events
                         if e.get("method") == "Network.requestWillBeSent"]
        # The test's own probe (the page has no script of its own).
        probe = ("JSON.stringify(Array.from(document.querySelectorAll(" + json.dumps(selector)
                 + ")).map(e => { const r = e.getBoundingClientRect(); "
                 "return [(e.closest('[id]') || e).id, r.x, r.y + window.scrollY, "
                 "r.width, r.height]; }))")
        found = browser.send("Runtime.evaluate", session, expression=probe, returnByValue=True)
        for ident, x, y, w, h in json.loads(found["result"]["value"]):
            page.boxes[ident] = (x, y, w, h)
        page.scripts_enabled = bool(browser.send(
            "Runtime.evaluate", session, expression="document.scripts.length",
            returnByValue=True)["result"]["value"])
        size = browser.send("Page.getLayoutMetrics", session)["cssContentSize"]
        shot = browser.send("Page.captureScreenshot", session, format="png",
                            captureBeyondViewport=True,
                            clip={"x": 0, "y": 0, "width": size["width"],
                                  "height": size["height"], "scale": 1})
        page.png = base64.b64decode(shot["data"])
        # Requests the screenshot's layout may have started (lazy images, fonts).
        page.requests += [e["params"]["request"]["url"] for e in browser.events
                          if e.get("method") == "Network.requestWillBeSent"
                          and e["params"]["request"]["url"] not in page.requests]
        return page
    finally:
        browser.close()
