"""What the numbers were measured on: cores, memory, versions, load; memory of a process by pid.

Memory comes from /proc (Linux), so psutil is not needed.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def _proc_status_kb(pid: int, field: str) -> int:
    """A `VmRSS:`-style field of /proc/<pid>/status in kB (0 if the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def peak_rss_mb(pid: int | None = None) -> float:
    """Highest resident memory the process has had so far (VmHWM)."""
    return _proc_status_kb(pid or os.getpid(), "VmHWM") / 1024


def rss_mb(pid: int | None = None) -> float:
    return _proc_status_kb(pid or os.getpid(), "VmRSS") / 1024


def _memory_total_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 2**20
    return 0.0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(module: str) -> str:
    try:
        return __import__(module).__version__
    except Exception:  # not installed, or no __version__: say so rather than fail the report
        return "not available"


def code_version(repo: Path) -> str:
    """The commit measured, and whether the working tree had changes on top of it (read-only git)."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=30).stdout.strip()

    try:
        commit, changed = git("rev-parse", "--short", "HEAD"), git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    files = len(changed.splitlines())
    return f"{commit or 'unknown'}" + (f" + uncommitted changes in {files} files" if files else "")


def describe() -> list[tuple[str, str]]:
    """(what, value) rows for the report's machine table."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 0
    return [
        ("date", time.strftime("%Y-%m-%d %H:%M:%S %Z")),
        ("code", code_version(Path(__file__).resolve().parents[1])),
        ("cpu", f"{_cpu_model()}, {os.cpu_count()} cores ({usable} usable), no GPU"),
        ("memory", f"{_memory_total_gb():.1f} GB"),
        ("os", platform.platform()),
        ("python", sys.version.split()[0]),
        ("torch", _version("torch")),
        ("faiss", _version("faiss")),
        ("numpy", _version("numpy")),
        ("load average (1/5/15 min) at start", load_average()),
    ]


# --- CPU time: how many cores each part of a run used --------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def parse_proc_stat(text: str) -> tuple[int, int]:
    """(parent pid, CPU ticks) from one /proc/<pid>/stat: user + system time of the process and of
    its children that have exited and been waited for (so a reaped child's time is not lost)."""
    fields = text.rsplit(")", 1)[1].split()  # the command name, in parentheses, may hold spaces
    # fields[0] is field 3 (state) of proc(5): ppid 4, utime 14, stime 15, cutime 16, cstime 17
    return int(fields[1]), sum(int(value) for value in fields[11:15])


def _process_table() -> dict[int, tuple[int, int]]:
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                table[int(entry.name)] = parse_proc_stat((entry / "stat").read_text())
            except (OSError, ValueError, IndexError):
                continue  # gone meanwhile
    return table


def tree_cpu_seconds(roots: list[int], table: dict[int, tuple[int, int]] | None = None) -> float:
    """CPU seconds used so far by the processes `roots` and all their descendants."""
    table = _process_table() if table is None else table
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    seen, todo = set(), [pid for pid in roots if pid in table]
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo += children.get(pid, [])
    return sum(table[pid][1] for pid in seen) / CLOCK_TICKS


def parse_cpu_line(line: str) -> tuple[int, int, int]:
    """(busy, all, steal) jiffies from the `cpu` line of /proc/stat; busy excludes idle and iowait,
    steal (time the hypervisor gave this VM's CPUs to others) counts in all, not in busy."""
    values = [int(v) for v in line.split()[1:]]
    values += [0] * (8 - len(values))
    user, nice, system, idle, iowait, irq, softirq, steal = values[:8]  # guest time is already in user
    return user + nice + system + irq + softirq, user + nice + system + idle + iowait + irq + softirq + steal, steal


def machine_cpu() -> tuple[int, int, int]:
    """The whole machine's CPU counters (see parse_cpu_line), to difference over a run."""
    with open("/proc/stat", encoding="ascii") as stat:
        return parse_cpu_line(stat.readline())


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1
