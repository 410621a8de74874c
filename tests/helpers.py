"""Helpers the test modules share: free loopback ports and real servers started as processes."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 60.0) -> None:
    end = time.time() + timeout
    while time.time() < end:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def start_process(args: list[str], state_dir: Path, health_url: str, **env: str) -> subprocess.Popen:
    """Start one of the project's console scripts with its own state dir and wait until it answers."""
    proc = subprocess.Popen([str(Path(sys.executable).with_name(args[0])), *args[1:]], cwd=ROOT,
                            env={**os.environ, "PITWALL_STATE_DIR": str(state_dir), **env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_http(health_url)
    except AssertionError:
        proc.kill()
        raise AssertionError(f"{' '.join(args)} did not start: " + proc.stdout.read().decode()[-2000:]) from None
    return proc


def start_streamlit(state_dir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = start_process(["streamlit", "run", "app.py", "--server.port", str(port), "--server.headless", "true"], state_dir,
                         f"http://127.0.0.1:{port}/_stcore/health")
    return proc, f"http://127.0.0.1:{port}"


def start_api(state_dir: Path, port: int | None = None, **env: str) -> tuple[subprocess.Popen, str]:
    port = port or free_port()
    proc = start_process(["pitwall", "api", "--port", str(port)], state_dir, f"http://127.0.0.1:{port}/api/v1/health", **env)
    return proc, f"http://127.0.0.1:{port}/api/v1"


def run_cli(*args, env_extra=None, **kw) -> subprocess.CompletedProcess:
    """``pitwall ARGS`` as a process (wide console), its output captured."""
    env = {**os.environ, "COLUMNS": "200", **(env_extra or {})}
    return subprocess.run([str(Path(sys.executable).with_name("pitwall")), *args], capture_output=True, text=True, timeout=300,
                          env=env, **kw)
