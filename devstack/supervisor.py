"""Keep the local stack's processes running: a child that dies is started again and the restart
is logged, instead of one dead worker stopping every process (and moto's in-memory data with
them). A child that keeps dying right after its start is restarted after a growing pause
(1, 2, 4 ... 30 s), so a broken command does not spin.

Used by `make run` (scripts/run_local.py) for its services and by scripts/worker.py for its
worker processes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

#: A child that ran at least this long before dying is restarted at once.
STABLE_SECONDS = 10.0
MAX_PAUSE_SECONDS = 30.0


def log_to_stderr(prefix: str) -> Callable[[str], None]:
    def log(line: str) -> None:
        print(f"{prefix}: {line}", file=sys.stderr, flush=True)

    return log


@dataclass
class Service:
    name: str
    command: Sequence[str]
    #: Runs after each restart (e.g. moto came back empty: bootstrap its resources again).
    after_restart: Callable[[], None] | None = None
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    quick_exits: int = 0
    restart_at: float | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None


class Supervisor:
    """Starts services and restarts the dead ones each time `poll()` is called."""

    def __init__(
        self,
        *,
        cwd: Path,
        env: Mapping[str, str] | None = None,
        log: Callable[[str], None] | None = None,
        own_process_groups: bool = True,
    ) -> None:
        self.cwd = cwd
        self.env = dict(env) if env is not None else None
        self.log = log or log_to_stderr("supervisor")
        #: Each child in its own process group, so stopping one stops its whole tree.
        self.own_process_groups = own_process_groups
        self.services: list[Service] = []

    def start(
        self,
        name: str,
        command: Sequence[str],
        *,
        after_restart: Callable[[], None] | None = None,
    ) -> Service:
        service = Service(name, list(command), after_restart)
        self._spawn(service)
        self.services.append(service)
        return service

    def poll(self) -> None:
        """Restart every service that died (now, or after its pause)."""
        now = time.monotonic()
        for service in self.services:
            process = service.process
            if service.restart_at is None:
                if process is None or process.poll() is None:
                    continue
                ran = now - service.started_at
                service.quick_exits = service.quick_exits + 1 if ran < STABLE_SECONDS else 0
                pause = 0.0
                if service.quick_exits:
                    pause = min(2.0 ** (service.quick_exits - 1), MAX_PAUSE_SECONDS)
                when = f" in {pause:.0f} s" if pause else ""
                self.log(
                    f"{service.name} (pid {process.pid}) exited with {_status(process)} "
                    f"after {ran:.0f} s; restarting it{when}"
                )
                service.restart_at = now + pause
            if now >= service.restart_at:
                service.restart_at = None
                service.restarts += 1
                self._spawn(service)
                self.log(f"{service.name} restarted (pid {service.pid})")
                if service.after_restart is not None:
                    service.after_restart()

    def wait(self, stop: Callable[[float], bool], interval: float = 0.5) -> None:
        """Supervise until `stop(interval)` returns true (e.g. `threading.Event().wait`)."""
        while not stop(interval):
            self.poll()

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 5.0) -> None:
        """Signal every service, wait up to `timeout`, then kill what is left."""
        running = [s.process for s in self.services if s.process and s.process.poll() is None]
        for process in running:
            self._signal(process, signum)
        deadline = time.monotonic() + timeout
        for process in running:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                self._signal(process, signal.SIGKILL)
                process.wait()

    def _spawn(self, service: Service) -> None:
        service.process = subprocess.Popen(
            service.command, cwd=self.cwd, env=self.env, start_new_session=self.own_process_groups
        )
        service.started_at = time.monotonic()

    def _signal(self, process: subprocess.Popen[bytes], signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            if self.own_process_groups:
                os.killpg(process.pid, signum)
            else:
                process.send_signal(signum)


def _status(process: subprocess.Popen[bytes]) -> str:
    code = process.returncode
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return signal.Signals(-code).name
    return f"status {code}"
