"""`make run` (scripts/run_local.py) as a user runs it, on moved ports: the environment's
endpoints reach every process, a worker killed with SIGKILL is started again while the rest of
the stack (and moto's data) stays, and a busy port is one line saying how to move it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack import free_port
from tests.conftest import ROOT

DEV_KEY = "tg-local-dev-key"
RECORD = {"prompt": "Worked well, no side effects.\n\n###\n\n", "completion": " positive"}


def clean_env(**extra: str) -> dict[str, str]:
    """A user's shell: none of the test stack's variables, only what they would set."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    return {**{k: os.environ[k] for k in keep if k in os.environ}, **extra}


def moved_ports_env(port: int) -> dict[str, str]:
    """A user's shell that moves all three ports: the API to `port`, moto and the emulator to
    free ones."""
    return clean_env(
        PORT=str(port),
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}",
        AWS_ENDPOINT_URL_BEDROCK_RUNTIME=f"http://127.0.0.1:{free_port()}",
    )


def processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process (Linux /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        found[int(entry.name)] = (parent, command)
    return found


def descendants(root: int) -> dict[int, str]:
    table = processes()
    found: dict[int, str] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, command) in table.items():
            if ppid == parent and pid not in found:
                found[pid] = command
                frontier.append(pid)
    return found


def workers(root: int) -> tuple[list[int], list[int]]:
    """(worker supervisors, worker processes) under the runner."""
    tree = {pid: command for pid, command in descendants(root).items() if "worker.py" in command}
    table = processes()
    children = [pid for pid in tree if table.get(pid, (0, ""))[0] in tree]
    return [pid for pid in tree if pid not in children], children


def eventually(
    check: Callable[[], Any], what: str, timeout: float = 60, log: Path | None = None
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            tail = log.read_text()[-3000:] if log else ""
            pytest.fail(f"timed out waiting for {what}\n{tail}")
        time.sleep(0.3)


def call(url: str, method: str = "GET", body: Any = None) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"x-api-key": DEV_KEY, "content-type": "application/json"}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@pytest.fixture()
def runner(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """`make run` on free ports (what `PORT=... AWS_ENDPOINT_URL=... make run` does)."""
    port = free_port()
    env = moved_ports_env(port)
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "scripts/run_local.py"],
            cwd=ROOT,
            env=env,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    try:

        def up() -> bool:
            if process.poll() is not None:
                pytest.fail(f"make run exited {process.returncode}: {err.read_text()[-3000:]}")
            return "local stack is up" in out.read_text()

        eventually(up, "the local stack", timeout=240)
        yield process, f"http://127.0.0.1:{port}", err
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def test_killed_workers_are_restarted_and_the_stack_keeps_serving(
    runner: tuple[subprocess.Popen[bytes], str, Path],
) -> None:
    process, url, stderr = runner
    status, health = call(f"{url}/health")
    assert (status, health["status"]) == (200, "ok"), health
    invoke = f"{url}/v1/models/drug-review-sentiment/invoke"
    status, answer = call(invoke, "POST", {"input": "This drug changed my life."})
    assert status == 200, answer  # the moved endpoints reached the API (not 4566/4010)
    moto = [p for p, c in descendants(process.pid).items() if "moto_server" in c]

    _, children = eventually(
        lambda: (w := workers(process.pid))[1] and w, "worker processes", log=stderr
    )
    os.kill(children[0], signal.SIGKILL)
    _, after = eventually(
        lambda: (
            (w := workers(process.pid))[1]
            and children[0] not in w[1]
            and len(w[1]) == len(children)
            and w
        ),
        "a replacement worker process",
        log=stderr,
    )
    assert set(after) - set(children), "no new worker process"

    [supervisor], _ = workers(process.pid)
    os.kill(supervisor, signal.SIGKILL)  # its children stop with it; the runner starts it again
    eventually(
        lambda: (
            (w := workers(process.pid))[0]
            and supervisor not in w[0]
            and len(w[1]) == len(children)
            and not set(w[1]) & set(after)
        ),
        "a new worker supervisor and its processes",
        log=stderr,
    )

    assert process.poll() is None, "the stack stopped"
    log = stderr.read_text()
    assert "restarting it" in log and "restarted" in log, log[-2000:]
    assert [p for p, c in descendants(process.pid).items() if "moto_server" in c] == moto
    status, health = call(f"{url}/health")
    assert (status, health["status"]) == (200, "ok"), health
    status, job = call(
        f"{url}/v1/evaluations",
        "POST",
        {"models": ["drug-review-sentiment"], "dataset": {"records": [RECORD] * 3}},
    )
    assert status == 202, job
    finished = eventually(
        lambda: (
            (j := call(f"{url}/v1/evaluations/{job['evaluation_id']}")[1])["status"]
            in ("succeeded", "completed_with_errors", "failed")
            and j
        ),
        "the evaluation job",
        timeout=120,  # a message a dying worker had just received comes back after 30 s
        log=stderr,
    )
    assert finished["status"] == "succeeded", finished


@pytest.mark.parametrize(
    ("variable", "advice"),
    [
        ("PORT", "PORT={moved} make run"),
        ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL=http://127.0.0.1:{moved} make run"),
        (
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME=http://127.0.0.1:{moved}",
        ),
    ],
)
def test_a_busy_port_names_itself_and_how_to_move(variable: str, advice: str) -> None:
    """The advice names another port than the busy one."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = moved_ports_env(free_port())
        env[variable] = str(port) if variable == "PORT" else f"http://127.0.0.1:{port}"
        result = subprocess.run(
            [sys.executable, "scripts/run_local.py"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    moved = advice.format(moved=port + 100)
    assert f"port {port}" in result.stderr and moved in result.stderr, result.stderr


def test_the_first_install_says_what_it_is_doing(tmp_path: Path) -> None:
    result = subprocess.run(
        ["make", "-n", "install", f"VENV={tmp_path / 'venv'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    pip = next(i for i, line in enumerate(lines) if "pip install" in line)
    assert any(line.startswith("echo") and "nstall" in line for line in lines[:pip]), lines


def test_a_process_that_keeps_dying_is_restarted_with_growing_pauses(tmp_path: Path) -> None:
    from devstack.supervisor import Supervisor

    lines: list[str] = []
    supervisor = Supervisor(cwd=tmp_path, log=lines.append)
    service = supervisor.start("crasher", [sys.executable, "-c", "raise SystemExit(3)"])
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        supervisor.poll()
        time.sleep(0.05)
    supervisor.stop()
    # Restarted at once would be dozens of starts in 4 s; pauses of 1, 2, 4 s allow three.
    assert 1 <= service.restarts <= 3, lines
    assert "crasher (pid" in lines[0] and "exited with status 3" in lines[0]
    assert "restarting it in 1 s" in lines[0] and "restarting it in 2 s" in lines[2], lines
