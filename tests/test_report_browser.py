"""The demo report opens in a real browser: headless Chromium renders it without console errors."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
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


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt install chromium)")
def test_demo_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    demo = subprocess.run(
        [
            str(Path(sys.executable).parent / "signxai"),
            "demo",
            "--out",
            str(out),
            "--quiet",
            "--abnormal",
            "2",
            "--normal",
            "1",
            "--method",
            "gradient",
            "--method",
            "lrpsign_epsilon_0_5",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert demo.returncode == 0, demo.stderr
    screenshot = tmp_path / "report.png"
    result = subprocess.run(
        [
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1280,2400",
            f"--screenshot={screenshot}",
            (out / "report.html").resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    console = [line for line in result.stderr.splitlines() if "CONSOLE" in line]
    assert not console, console
    assert screenshot.stat().st_size > 50_000
    import matplotlib.image as mpimg

    assert mpimg.imread(screenshot).std() > 0.05
