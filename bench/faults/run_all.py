"""Run every fault scenario, one after the other, and print a summary table.

    .venv/bin/python bench/faults/run_all.py [--only NAME ...] [--timeout 300]

Each scenario is its own process (``bench/faults/<name>.py``) with its own database, Redis
namespace and processes, killed with its process group if it outlives ``--timeout`` seconds.
Exit status: 0 when every scenario passed, 2 when one missed a criterion, 1 on an error.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# In the brief's priority order: the outbox relay, carrier faults, killed workers, then a
# Redis restart, a rolling restart and a PostgreSQL restart (each its own redis-server, and
# postgres_restart its own PostgreSQL cluster: never the shared ones).
SCENARIOS = (
    "crash_after_commit",
    "carrier_faults",
    "worker_kill",
    "redis_restart",
    "rolling_restart",
    "postgres_restart",
)


def run_one(name: str, timeout: float) -> tuple[int, str, float]:
    """(exit status, verdict line, seconds) of one scenario; its output goes through."""
    started = time.monotonic()
    process = subprocess.Popen(  # noqa: S603 - our interpreter, our scripts
        [sys.executable, str(HERE / f"{name}.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    verdict = ""
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # SIGTERM first: the scenario's own clean-up (processes, database) runs on it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
        verdict = f"ERROR faults/{name}: timed out after {timeout:.0f} s"
    print(output, flush=True)
    for line in output.splitlines():
        if line.startswith(("PASS ", "FAIL ", "ERROR ")):
            verdict = verdict or line
    code = process.returncode if not verdict.startswith("ERROR") else 1
    return (
        (code if code in (0, 2) else 1),
        verdict or f"ERROR faults/{name}: no verdict",
        (time.monotonic() - started),
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per scenario")
    args = parser.parse_args(argv)
    results = [(name, *run_one(name, args.timeout)) for name in args.only]
    print("\n| scenario | result | seconds | figures |\n| --- | --- | --- | --- |")
    for name, _code, verdict, seconds in results:
        word, _, rest = verdict.partition(" ")
        print(f"| {name} | {word} | {seconds:.0f} | {rest.partition(': ')[2]} |")
    codes = {code for _name, code, _v, _s in results}
    return 1 if 1 in codes else 2 if 2 in codes else 0


if __name__ == "__main__":
    sys.exit(main())
