"""The load generator pieces bench/webhooks.py and bench/tracking_page.py share: the gunicorn
server as bin/run starts it, raw keep-alive HTTP/1.1 exchanges on sockets (cheaper for the 2
cores than http.client), CPU accounting of the server's processes, percentiles and the summary
of timed rounds."""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
from pathlib import Path

from _common import ROOT


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _process_cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(parts[11]) + int(parts[12])  # utime + stime
    return total / os.sysconf("SC_CLK_TCK")


def exchange(sock: socket.socket, request: bytes) -> tuple[int, bytes, bool]:
    """Send one request, read its response: (status, body, server closes the connection)."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed before the response")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, close = None, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection":
            close = value.strip().lower() == b"close"
    while length is None or len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            if length is None:
                return status, body, True
            raise ConnectionError("connection closed mid-body")
        body += chunk
    return status, body[:length], close


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def start_gunicorn(
    args, env: dict[str, str], port: int, log: Path, *, settings: str, backlog: int | None = None
) -> subprocess.Popen:
    """gunicorn on 127.0.0.1:``port`` as bin/run and the image run it (``args``: workers,
    worker_class, threads), with the settings module ``settings`` from bench/."""
    gunicorn = Path(sys.executable).with_name("gunicorn")
    command = [
        str(gunicorn),
        "wismo.wsgi:application",
        "--config",
        "python:wismo.gunicorn_conf",  # as bin/run and the image run it
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        args.worker_class,
        "--worker-tmp-dir",
        "/dev/shm",  # noqa: S108 - as the Docker image runs it (heartbeat file in RAM)
        "--error-logfile",
        str(log),
        "--log-level",
        "warning",
    ]
    if backlog is not None:
        command += ["--backlog", str(backlog)]
    if args.worker_class == "gthread":
        command += ["--threads", str(args.threads)]
    server_env = {
        **os.environ,
        **env,
        "DJANGO_SETTINGS_MODULE": settings,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "bench")]),
    }
    server_env.pop("WEB_CONCURRENCY", None)
    return subprocess.Popen(command, cwd=ROOT, env=server_env)  # noqa: S603


def stop_gunicorn(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def summarize(rounds: list) -> dict:
    """Medians of rounds (``rate``, ``latencies``, ``counted``, ``errors``, CPU shares)."""
    latencies = [x for r in rounds for x in r.latencies]
    return {
        "req_per_s": round(statistics.median(r.rate for r in rounds), 1),
        "rounds_req_per_s": [round(r.rate, 1) for r in rounds],
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "requests": sum(r.counted for r in rounds),
        "errors": sum(r.errors for r in rounds),
        "client_cores": round(statistics.median(r.client_cpu for r in rounds), 2),
        "server_worker_cores": round(statistics.median(r.server_cpu for r in rounds), 2),
        "machine_busy": round(statistics.median(r.machine_busy for r in rounds), 3),
    }
