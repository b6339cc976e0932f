"""A headless Chromium driven over the DevTools protocol with the standard library only (a
socket speaking just enough WebSocket), for the tests of the HTML explorers.

    with Browser() as browser:            # raises BrowserUnavailable without a chromium
        browser.open(path)                # the network is off: a page can only use its own file
        browser.evaluate("document.title")
        pixels = png_pixels(browser.screenshot())

Every request the page makes is recorded in `browser.requests` (a self-contained page makes
none but the one for its own file), every uncaught JavaScript exception in `browser.errors`.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
import urllib.request
import zlib
from pathlib import Path
from typing import Any

import numpy as np

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-extensions",
    "--disable-default-apps",
    "--mute-audio",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
]


class BrowserUnavailable(RuntimeError):
    """No chromium on PATH, or it did not start."""


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


class _WebSocket:
    """A client WebSocket (RFC 6455) for text messages: enough for the DevTools protocol."""

    def __init__(self, url: str, timeout: float) -> None:
        match = re.match(r"ws://([^:/]+):(\d+)(/.*)", url)
        host, port, path = match.group(1), int(match.group(2)), match.group(3)
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise BrowserUnavailable("the browser closed the DevTools connection")
            reply += chunk
        head, self.buffer = reply.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise BrowserUnavailable(f"DevTools refused the connection: {head[:200]!r}")

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("the browser closed the DevTools connection")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def send(self, text: str) -> None:
        payload = text.encode()
        n = len(payload)
        header = bytes([0x81])  # FIN, text
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        masked = (np.frombuffer(payload, np.uint8) ^ np.resize(np.frombuffer(mask, np.uint8), n)).tobytes()
        self.sock.sendall(header + mask + masked)

    def receive(self) -> str:
        message = b""
        while True:
            first, second = self._read(2)
            n = second & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            payload = self._read(n)
            opcode = first & 0x0F
            if opcode == 8:
                raise ConnectionError("the browser closed the DevTools connection")
            if opcode in (0, 1):
                message += payload
                if first & 0x80:
                    return message.decode()

    def close(self) -> None:
        self.sock.close()


class Browser:
    """One headless Chromium with one page, on a fresh profile, the network switched off."""

    def __init__(self, width: int = 1200, height: int = 800, timeout: float = 30.0) -> None:
        binary = chromium_path()
        if binary is None:
            raise BrowserUnavailable("no chromium on PATH")
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="minigrad-chromium-")
        self.process = subprocess.Popen(
            [
                binary,
                *FLAGS,
                f"--user-data-dir={self.profile}",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.events: queue.Queue = queue.Queue()
        self.requests: list[str] = []
        self.errors: list[str] = []  # uncaught JavaScript exceptions
        self._replies: dict[int, Any] = {}
        self._next_id = 0
        self._lock = threading.Condition()
        try:
            port = self._devtools_port()
            pages = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=timeout))
            url = next(p["webSocketDebuggerUrl"] for p in pages if p.get("type") == "page")
            self.socket = _WebSocket(url, timeout)
        except BaseException:
            self.close()
            raise
        threading.Thread(target=self._listen, daemon=True).start()
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.send("Network.enable")
        self.send(
            "Network.emulateNetworkConditions",
            offline=True,
            latency=0,
            downloadThroughput=0,
            uploadThroughput=0,
        )

    def _devtools_port(self) -> int:
        """Chromium prints "DevTools listening on ws://127.0.0.1:PORT/..." once it is up."""
        deadline = time.monotonic() + self.timeout
        lines: list[str] = []
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line:
                break
            lines.append(line)
            match = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if match:
                threading.Thread(
                    target=self.process.stderr.read, daemon=True
                ).start()  # keep the pipe drained
                return int(match.group(1))
        raise BrowserUnavailable("chromium did not start: " + "".join(lines[-5:]).strip())

    def _listen(self) -> None:
        while True:
            try:
                message = json.loads(self.socket.receive())
            except (OSError, ConnectionError, ValueError):
                return
            if "id" in message:
                with self._lock:
                    self._replies[message["id"]] = message
                    self._lock.notify_all()
            else:
                if message.get("method") == "Network.requestWillBeSent":
                    self.requests.append(message["params"]["request"]["url"])
                elif message.get("method") == "Runtime.exceptionThrown":
                    details = message["params"]["exceptionDetails"]
                    self.errors.append(details.get("exception", {}).get("description") or details.get("text"))
                self.events.put(message)

    def send(self, method: str, **params: Any) -> Any:
        """Call a DevTools method and return its result (an error reply raises RuntimeError)."""
        with self._lock:
            self._next_id += 1
            key = self._next_id
        self.socket.send(json.dumps({"id": key, "method": method, "params": params}))
        deadline = time.monotonic() + self.timeout
        with self._lock:
            while key not in self._replies:
                if not self._lock.wait(timeout=max(0.0, deadline - time.monotonic())):
                    raise TimeoutError(f"DevTools did not answer {method} within {self.timeout} s")
            reply = self._replies.pop(key)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def open(self, path: str | os.PathLike, ready: str = "document.body.dataset.ready === 'true'") -> None:
        """Load a file and wait until `ready` (a JavaScript expression) is true."""
        url, _, fragment = str(path).partition("#")
        url = Path(url).resolve().as_uri() + (f"#{fragment}" if fragment else "")
        # By way of a blank page, so that loading the same file with another #fragment reloads it.
        self.send("Page.navigate", url="about:blank")
        self.wait_for("location.href === 'about:blank'")
        self.requests.clear()
        self.errors.clear()
        self.send("Page.navigate", url=url)
        self.wait_for(ready)

    def wait_for(self, expression: str) -> None:
        """Poll until a JavaScript expression is true (one that throws counts as false: the
        document may still be loading)."""
        deadline = time.monotonic() + self.timeout
        while not self.evaluate(
            f"(() => {{ try {{ return Boolean({expression}); }} catch (e) {{ return false; }} }})()"
        ):
            if self.errors:
                raise RuntimeError(f"the page threw: {self.errors[0]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the page never made {expression} true")
            time.sleep(0.05)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (a thrown error raises RuntimeError)."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise RuntimeError(details.get("exception", {}).get("description") or details.get("text"))
        return result["result"].get("value")

    def screenshot(self) -> bytes:
        """The visible part of the page as PNG bytes."""
        return base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"])

    def close(self) -> None:
        sock = getattr(self, "socket", None)
        if sock is not None:
            sock.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def png_pixels(png: bytes) -> np.ndarray:
    """An 8-bit RGB or RGBA PNG (what Chromium writes) as a (height, width, channels) uint8 array.
    The five PNG row filters are undone row by row; Sub is a running sum, vectorised."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    pos, chunks, header = 8, [], None
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        body = png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in (2, 6) or interlace:
        raise ValueError(
            f"png_pixels reads 8-bit RGB(A) without interlacing, got depth {depth}, colour {colour}"
        )
    channels = 3 if colour == 2 else 4
    raw = np.frombuffer(zlib.decompress(b"".join(chunks)), np.uint8).reshape(height, 1 + width * channels)
    rows = np.zeros((height, width * channels), np.int32)
    previous = np.zeros(width * channels, np.int32)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        if kind == 0:
            row = line
        elif kind == 1:  # Sub: each byte adds the one `channels` to its left
            row = np.cumsum(line.reshape(width, channels), axis=0).reshape(-1) % 256
        elif kind == 2:  # Up
            row = (line + previous) % 256
        else:  # Average (3) and Paeth (4) depend on the reconstructed left byte: one pixel at a time
            row = line.copy()
            for x in range(width * channels):
                left = row[x - channels] if x >= channels else 0
                up = previous[x]
                if kind == 3:
                    row[x] = (row[x] + (left + up) // 2) % 256
                else:
                    corner = previous[x - channels] if x >= channels else 0
                    p = left + up - corner
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                    row[x] = (row[x] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) % 256
        rows[y] = row
        previous = row
    return rows.astype(np.uint8).reshape(height, width, channels)
