"""``coinlstm serve`` started as a user starts it, for the dashboard's API and browser
tests: a real process on a free loopback port, stopped by its process group."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


class Served:
    """A ``coinlstm serve`` process and its URL."""

    def __init__(self, *args: str, env: dict | None = None) -> None:
        full_env = dict(os.environ, PYTHONPATH=str(REPO), **(env or {}))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "coinlstm", "serve", "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env,
            cwd=REPO, start_new_session=True)
        line = self.process.stdout.readline()
        if not line.startswith("dashboard on "):
            self.stop()
            raise AssertionError(f"serve did not start: {line} {self.process.stderr.read()}")
        self.url = line.split()[2].rstrip("/")

    def get(self, path: str, headers: dict | None = None, method: str = "GET",
            data: bytes | None = None):
        request = urllib.request.Request(self.url + path, headers=headers or {},
                                         method=method, data=data)
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                return reply.status, dict(reply.headers), reply.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read().decode()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
