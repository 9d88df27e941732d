"""Debian's Chromium, headless, as a person's browser: rendered DOM, console output, screenshot."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
]


@dataclass
class Page:
    dom: str
    console: list[str]  # console messages and load failures the page produced


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise RuntimeError(
            "chromium is not installed: `make test` installs Debian's chromium (tests/install-browser.sh)"
        )
    return path


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=120
        )


def open_page(path: Path, screenshot: Path | None = None, size: str = "1200,1800") -> Page:
    """Load a local page; return its rendered DOM and what it logged; optionally save a screenshot."""
    url = path.resolve().as_uri()
    result = _run(["--virtual-time-budget=3000", "--dump-dom", url])
    console = [
        line
        for line in result.stderr.splitlines()
        if re.search(r":CONSOLE[:(]", line) or "Failed to load resource" in line or "net::ERR_" in line
    ]
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        _run([f"--window-size={size}", f"--screenshot={screenshot}", url])
    return Page(result.stdout, console)
