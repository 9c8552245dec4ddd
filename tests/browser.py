"""A real browser for the tests: Debian's Chromium driven through its ChromeDriver.

The test setup installs both (``apt-get install chromium chromium-driver``) where they are
missing and it may (root, apt); only where no Chromium can be installed does a browser
test skip, and it says why. Chromium runs headless with the flags a closed network needs
(no background connections, no component updates), in a fresh profile.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGES = ("chromium", "chromium-driver")
INSTALL_TIMEOUT_S = 900
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
)


def installed() -> tuple[str, str] | None:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    return (chromium, driver) if chromium and driver else None


def ensure_chromium() -> tuple[str, str]:
    """The paths of Chromium and ChromeDriver, installing them first if need be; skips the
    test with the reason where they cannot be installed."""
    found = installed()
    if found:
        return found
    if not shutil.which("apt-get") or os.geteuid() != 0:
        pytest.skip("no Chromium here and no way to install it (needs root and apt-get)")
    command = ["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for attempt in (command, ["apt-get", "update"], command):
        done = subprocess.run(
            attempt, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, env=env
        )
        if attempt is command and done.returncode == 0:
            break
    found = installed()
    if not found:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
        pytest.skip(f"could not install Chromium with apt-get: {last[0]}")
    return found


def chrome(download_dir: Path) -> Iterator[object]:
    """A headless Chromium under Selenium, quit afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = ensure_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={download_dir / 'profile'}")
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(download_dir), "download.prompt_for_download": False},
    )
    browser = webdriver.Chrome(service=Service(driver), options=options)
    try:
        yield browser
    finally:
        browser.quit()
