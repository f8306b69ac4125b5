"""Headless Chromium for the dashboard's browser tests (Debian's ``chromium`` packages).

:func:`ensure_chromium` installs ``chromium`` and ``chromium-driver`` with ``apt-get`` when
either binary is missing, the same way :mod:`.redis` installs ``redis-server``; nothing is
downloaded from elsewhere (Selenium Manager is bypassed by naming the system chromedriver).
:class:`Browser` is a :class:`~ray_platform.services.base.LocalService` whose ``running()``
yields a live Selenium driver::

    with Browser().running() as browser:
        browser.driver.get("http://127.0.0.1:8088/dashboard")
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

from ray_platform.errors import ServiceError
from ray_platform.services.base import LocalService

PACKAGES = ("chromium", "chromium-driver")
_BINARIES = {"chromium": ("chromium", "chromium-browser"), "chromium-driver": ("chromedriver",)}


def _which(names: tuple[str, ...]) -> str | None:
    return next((p for n in names if (p := shutil.which(n))), None)


def ensure_chromium() -> tuple[str, str]:
    """``(chromium, chromedriver)`` paths, installing Debian's packages if either is missing."""
    browser, driver = _which(_BINARIES["chromium"]), _which(_BINARIES["chromium-driver"])
    if browser and driver:
        return browser, driver
    apt = shutil.which("apt-get")
    if apt is None:
        raise ServiceError("chromium is missing and apt-get is not available to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = [apt, "install", "-y", "--no-install-recommends", *PACKAGES]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    if done.returncode != 0:  # a fresh machine may not have the package lists yet
        subprocess.run([apt, "update"], capture_output=True, timeout=600, env=env)
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    browser, driver = _which(_BINARIES["chromium"]), _which(_BINARIES["chromium-driver"])
    if done.returncode != 0 or not (browser and driver):
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise ServiceError(
            "could not install chromium with apt-get (run `apt-get update && apt-get install -y "
            f"chromium chromium-driver` as root): {' | '.join(tail)}"
        )
    return browser, driver


class Browser(LocalService):
    """A headless Chromium driven by Selenium through the system chromedriver."""

    def __init__(self, width: int = 1280, height: int = 900, *, insecure_tls: bool = False) -> None:
        # insecure_tls: accept self-signed certificates (the services' dev certificate).
        self.width, self.height, self.insecure_tls = width, height, insecure_tls
        self.driver: Any = None

    def start(self) -> bool:
        """Launch the browser; False when this object already holds one."""
        if self.driver is not None:
            return False
        try:
            from selenium import webdriver
            from selenium.webdriver.chrome.service import Service
        except ImportError:
            raise ServiceError(
                'selenium is not installed: pip install "globalbank-platform[dev]"'
            ) from None
        browser, driver = ensure_chromium()
        opts = webdriver.ChromeOptions()
        opts.binary_location = browser
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                    "--disable-gpu", f"--window-size={self.width},{self.height}"):  # fmt: skip
            opts.add_argument(arg)
        opts.accept_insecure_certs = self.insecure_tls
        try:
            self.driver = webdriver.Chrome(service=Service(executable_path=driver), options=opts)
        except Exception as exc:  # selenium's errors share no useful base
            raise ServiceError(f"chromium did not start: {str(exc).splitlines()[0]}") from None
        return True

    def stop(self) -> bool:
        """Quit the browser; False when none was running."""
        if self.driver is None:
            return False
        self.driver.quit()
        self.driver = None
        return True
