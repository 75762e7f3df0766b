"""Where the CPU goes during an ingestion run: the ingester's threads, PostgreSQL, Mosquitto, everything else.

Read from ``/proc`` (Linux): cheap enough to run around every measured run, unlike a profiler, and it says
which side (Python threads, database, broker) is the bottleneck on a 2-core machine.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def _cpu_s(stat_path: Path) -> float:
    """user + system CPU seconds from a ``/proc/…/stat`` file (fields 14 and 15)."""
    fields = stat_path.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_S


#: pid → (program name, CPU seconds so far)
Snapshot = dict[int, tuple[str, float]]


def cpu_by_process() -> Snapshot:
    """CPU seconds used so far by every process on the machine, with its program name (``comm``)."""
    totals: Snapshot = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            totals[int(entry.name)] = ((entry / "comm").read_text().strip(), _cpu_s(entry / "stat"))
        except (OSError, IndexError, ValueError):
            continue  # the process ended meanwhile
    return totals


def thread_cpu_s(thread: threading.Thread) -> float:
    """CPU seconds a thread of this process has used (0 once it has ended)."""
    if thread.native_id is None:
        return 0.0
    try:
        return _cpu_s(Path(f"/proc/self/task/{thread.native_id}/stat"))
    except OSError:
        return 0.0


def ingester_threads() -> dict[str, threading.Thread]:
    """The ingester's network (paho) and writer threads, by role."""
    found: dict[str, threading.Thread] = {}
    for thread in threading.enumerate():
        if thread.name.startswith("paho-mqtt-client"):
            found["network thread (paho)"] = thread
        elif thread.name == "sensing-mqtt-writer":
            found["writer thread"] = thread
    return found


def describe(before: Snapshot, after: Snapshot, threads: dict[str, float], wall_s: float) -> str:
    """One line: CPU seconds (and share of the wall time) per part, biggest first.

    Processes that ended in between are not counted (their time is gone from ``/proc``).
    """
    own_pid = os.getpid()
    parts = dict(threads)
    parts["rest of this process"] = -sum(threads.values())
    for key in ("PostgreSQL", "Mosquitto", "other programs (other users' jobs too)"):
        parts[key] = 0.0
    for pid, (name, cpu) in after.items():
        used = cpu - before.get(pid, ("", 0.0))[1]
        if pid == own_pid:
            parts["rest of this process"] += used
        elif name == "postgres":
            parts["PostgreSQL"] += used
        elif name == "mosquitto":
            parts["Mosquitto"] += used
        else:
            parts["other programs (other users' jobs too)"] += used
    parts["rest of this process"] = max(0.0, parts["rest of this process"])
    ordered = sorted(parts.items(), key=lambda item: -item[1])
    return ", ".join(f"{name} {cpu:.1f} s ({cpu / wall_s:.0%})" for name, cpu in ordered)
