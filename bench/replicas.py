"""Replicas behind nginx: `python app.py` ×1 and ×2 on loopback, sharing one index and one PostgreSQL
database for feedback, behind nginx with the site config of docs/deploy.md (bench/services.py), the
default embedder. Eight clients (threads, as in bench/http_load.py) ask for a fixed time and rate one
answer in RATE_EVERY (POST /api/feedback, like a 👍/👎); then the rows in PostgreSQL are counted
against the ratings that were acknowledged with an id.

Setups, each on replicas started for it (so each starts from the same state): one replica asked
directly (no nginx: the proxy's cost is the difference to the next row), one replica through nginx,
two through nginx, and two through nginx with one ONNX Runtime thread each (OMP_NUM_THREADS=1: the
two processes no longer compete for both cores inside the model). Before the clock starts each
replica answers every gold question once behind another opening (its searcher's caches warm, as in
bench/http_load.py's "warm server"); every setup is then asked the same questions, new to its
replicas' query-vector caches.

Beside each row: the load average, and the CPU each part used during the run (from /proc: the
replicas, nginx, PostgreSQL, the client threads of this process, and the whole machine; what the
whole machine used beyond those is other work, e.g. other jobs on a shared machine).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

import httpx

from bench.http_load import LoadResult, Server, drive, overload_questions
from bench.machine import _process_table, cores, machine_cpu, tree_cpu_seconds
from bench.query_latency import gold_questions, paraphrase
from bench.report import Section, Table, Target
from bench.services import Nginx, PostgresServer, nginx_program, postgres_programs, upstream_counts
from bench.timing import ms
from bench.workspace import Workspace

EMBEDDER = "embeddinggemma"
CLIENTS = 8
RUN_SECONDS, QUICK_RUN_SECONDS = 30, 8
ROUNDS, QUICK_ROUNDS = 2, 1  # every setup once per round: other work on a shared machine moves from run to run
RATE_EVERY = 4  # one answer in four is rated
P50_TARGET_MS, P95_TARGET_MS = 150, 300  # issue 14, at 8 clients


@dataclass(frozen=True)
class Setup:
    label: str
    replicas: int
    through_nginx: bool
    settings: tuple[tuple[str, str], ...] = ()  # more environment for each replica


SETUPS = (
    Setup("1 replica, direct (no nginx)", 1, False),
    Setup("1 replica behind nginx", 1, True),
    Setup("2 replicas behind nginx", 2, True),
    Setup("2 replicas behind nginx, OMP_NUM_THREADS=1 each", 2, True, (("OMP_NUM_THREADS", "1"),)),
)


class Ratings:
    """The `on_answer` hook of drive(): rates one answer in `every` through `url`, tagging each rated
    question so its row can be found in the database, and remembers the id each rating was given."""

    def __init__(self, url: str, tag: str, every: int = RATE_EVERY) -> None:
        self.url, self.tag, self.every = url, tag, every
        self.answers = 0
        self.acknowledged: dict[str, int] = {}  # tagged question -> the row id the server answered
        self.failed: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, http: httpx.Client, question: str, answer: dict) -> None:
        with self.lock:
            n, self.answers = self.answers, self.answers + 1
        if n % self.every:
            return
        rated = f"{question} #{self.tag}-{n}"
        body = {
            "rating": "down" if n % (2 * self.every) else "up",
            "question": rated,
            "answer": answer.get("answer") or "—",
            "citations": answer.get("citations") or [],
            "source": "api",
        }
        try:
            response = http.post(self.url + "/api/feedback", json=body)
            row_id = response.json().get("id") if response.status_code == 200 else None
            problem = "" if isinstance(row_id, int) else f"HTTP {response.status_code}: {response.text[:120]}"
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            row_id, problem = None, f"{type(exc).__name__}: {exc}"
        with self.lock:
            if problem:
                self.failed.append(problem)
            else:
                self.acknowledged[rated] = row_id

    def pattern(self) -> str:
        """A LIKE pattern for this run's rows (tags hold only letters, digits and '-')."""
        return f"% #{self.tag}-%"


def tally_ratings(acknowledged: dict[str, int], stored: dict[str, int]) -> tuple[int, int, int]:
    """(rows stored, acknowledged ratings missing or under another id: lost, rows nobody was told of)."""
    lost = sum(1 for question, row_id in acknowledged.items() if stored.get(question) != row_id)
    unacknowledged = sum(1 for question in stored if question not in acknowledged)
    return len(stored), lost, unacknowledged


@dataclass
class Measured:
    setup: Setup
    load: LoadResult
    ratings: Ratings
    stored: int = 0
    lost: int = 0
    unacknowledged: int = 0
    per_replica: list[int] = field(default_factory=list)
    load_before: float = 0.0
    load_after: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # part -> cores used on average over the run
    round: str = "1"

    @property
    def answers_per_s(self) -> float:
        return self.load.latency.n / self.load.seconds if self.load.seconds else 0.0


def combine(runs: list[Measured]) -> Measured:
    """Several runs of one setup as one: requests, samples and ratings pooled, CPU averaged over the
    time, per-replica counts added, the highest load average."""
    first = runs[0]
    seconds = sum(m.load.seconds for m in runs)
    load = LoadResult(first.load.clients, seconds=seconds)
    ratings = Ratings(first.ratings.url, "+".join(m.ratings.tag for m in runs), first.ratings.every)
    for m in runs:
        load.latency.samples += m.load.latency.samples
        load.refused.samples += m.load.refused.samples
        load.errors += m.load.errors
        ratings.answers += m.ratings.answers
        ratings.acknowledged.update(m.ratings.acknowledged)
        ratings.failed += m.ratings.failed
    cpu = {
        part: sum(m.cpu.get(part, 0.0) * m.load.seconds for m in runs) / seconds if seconds else 0.0
        for part in first.cpu
    }
    return Measured(
        setup=first.setup,
        load=load,
        ratings=ratings,
        stored=sum(m.stored for m in runs),
        lost=sum(m.lost for m in runs),
        unacknowledged=sum(m.unacknowledged for m in runs),
        per_replica=[sum(counts) for counts in zip(*(m.per_replica for m in runs))],
        load_before=max(m.load_before for m in runs),
        load_after=max(m.load_after for m in runs),
        cpu=cpu,
        round="all" if len(runs) > 1 else first.round,
    )


def by_setup(results: list[Measured]) -> list[Measured]:
    """One combined Measured per setup that was run, in SETUPS order."""
    return [combine(runs) for s in SETUPS if (runs := [m for m in results if m.setup == s])]


def cores_used(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, float]:
    """CPU seconds per part, differenced and divided by wall seconds: cores used on average."""
    return {part: max(after[part] - before[part], 0.0) / seconds if seconds else 0.0 for part in before}


class _CpuMeter:
    """CPU seconds so far of each part of the stack, of this process's threads and of the machine."""

    def __init__(self, parts: dict[str, list[int]]) -> None:
        self.parts = parts

    def read(self) -> tuple[dict[str, float], tuple[int, int, int]]:
        table = _process_table()
        seconds = {name: tree_cpu_seconds(pids, table) for name, pids in self.parts.items()}
        own = os.times()
        seconds["bench clients"] = own.user + own.system  # this process only (its threads), not its children
        return seconds, machine_cpu()


def _measure(
    setup: Setup,
    url: str,
    questions: list[str],
    seconds: float,
    pg: PostgresServer,
    parts: dict[str, list[int]],
    tag: str,
) -> Measured:
    ratings = Ratings(url, tag)
    meter = _CpuMeter(parts)
    load_before = os.getloadavg()[0]
    cpu_before, machine_before = meter.read()
    load = drive(url, questions, CLIENTS, seconds=seconds, on_answer=ratings)
    cpu_after, machine_after = meter.read()
    used = cores_used(cpu_before, cpu_after, load.seconds)
    busy, total = machine_after[0] - machine_before[0], machine_after[1] - machine_before[1]
    used["whole machine"] = busy / total * (os.cpu_count() or cores()) if total else 0.0
    with pg.connect() as conn:
        stored = dict(conn.execute("SELECT question, id FROM feedback WHERE question LIKE %s", (ratings.pattern(),)))
    n_stored, lost, unacknowledged = tally_ratings(ratings.acknowledged, stored)
    return Measured(
        setup=setup,
        load=load,
        ratings=ratings,
        stored=n_stored,
        lost=lost,
        unacknowledged=unacknowledged,
        load_before=load_before,
        load_after=os.getloadavg()[0],
        cpu=used,
    )


def _warm(servers: list[Server], questions: list[str]) -> None:
    """Every replica answers `questions` once, all replicas at once (CLIENTS clients each)."""
    threads = [
        threading.Thread(target=drive, args=(s.url, questions, CLIENTS), kwargs={"total": len(questions)})
        for s in servers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _run_setup(
    ws: Workspace, setup: Setup, tag: str, pg: PostgresServer, nginx_path: str, questions, warm_up, seconds
) -> Measured:
    index_dir = ws.index_for(EMBEDDER)
    settings = {"QA_DATABASE_URL": pg.url, **dict(setup.settings)}
    servers: list[Server] = []
    nginx = None
    try:
        for n in range(setup.replicas):
            log = ws.path("logs") / f"replicas-{tag}-{n}.log"
            servers.append(Server(ws, EMBEDDER, index_dir, log, settings))
        _warm(servers, warm_up)
        parts = {"replicas": [s.proc.pid for s in servers], "PostgreSQL": [pg.pid() or -1]}
        url = servers[0].url
        if setup.through_nginx:
            nginx = Nginx(nginx_path, [s.port for s in servers], workers="auto")
            nginx.wait_ready()
            parts["nginx"] = [nginx.proc.pid]
            url = nginx.url
        measured = _measure(setup, url, questions, seconds, pg, parts, tag)
        if nginx is not None:
            counts = upstream_counts(nginx.access_log())
            measured.per_replica = [counts.get(f"127.0.0.1:{s.port}", 0) for s in servers]
        else:
            measured.per_replica = [measured.load.requests]
        return measured
    finally:
        if nginx is not None:
            nginx.stop()
        for server in servers:
            server.stop()


def _row(m: Measured) -> list[str]:
    run = m.load
    return [
        m.setup.label,
        m.round,
        str(CLIENTS),
        f"{run.seconds:.0f}",
        str(run.requests),
        f"{m.answers_per_s:.1f}",
        ms(run.latency.p50),
        ms(run.latency.p95),
        ms(max(run.latency.samples, default=float("nan"))),
        f"{run.refused.n} ({run.refused_share:.0%})" if run.refused.n else "0",
        str(len(run.errors)),
        " / ".join(str(n) for n in m.per_replica),
        f"{len(m.ratings.acknowledged)} / {m.stored} / {m.lost} / {len(m.ratings.failed)}",
        f"{m.load_before:.1f} → {m.load_after:.1f}",
    ]


CPU_PARTS = ("replicas", "nginx", "PostgreSQL", "bench clients")


def _cpu_row(m: Measured) -> list[str]:
    ours = sum(m.cpu.get(part, 0.0) for part in CPU_PARTS)
    other = max(m.cpu["whole machine"] - ours, 0.0)
    return [
        m.setup.label,
        m.round,
        *(f"{m.cpu[part]:.2f}" if part in m.cpu else "–" for part in CPU_PARTS),
        f"{ours:.2f}",
        f"{m.cpu['whole machine']:.2f}",
        f"{other:.2f}",
        f"{m.load_before:.1f} → {m.load_after:.1f}",
    ]


def interpret(results: list[Measured], machine_cores: int) -> list[str]:
    """Notes computed from the rows (every round of a setup pooled): what a second replica and nginx
    changed, what they cost."""
    quiet_alone = [m for m in results if m.setup.replicas == 1 and _other(m) < 0.25 and m.cpu.get("replicas")]
    rounds = {m.round: {} for m in results}
    for m in results:
        rounds[m.round][m.setup] = m.answers_per_s
    results = by_setup(results)
    by_label = {m.setup.label: m for m in results}
    direct, one, two, two_single = (by_label.get(s.label) for s in SETUPS)
    notes = []
    if one and two:
        gain = two.answers_per_s / one.answers_per_s if one.answers_per_s else float("nan")
        notes.append(
            f"A second replica on these {machine_cores} cores: {two.answers_per_s:.1f} answers/s against "
            f"{one.answers_per_s:.1f} ({gain:.2f}×), p50 {ms(two.load.latency.p50)} against "
            f"{ms(one.load.latency.p50)} ms; the replicas used {two.cpu['replicas']:.2f} cores against "
            f"{one.cpu['replicas']:.2f}."
        )
    if quiet_alone:
        alone = max(quiet_alone, key=lambda m: m.cpu["replicas"])
        notes.append(
            f"One replica with the machine to itself ('{alone.setup.label}', round {alone.round}: "
            f"{_other(alone):.2f} cores of other work) used {alone.cpu['replicas']:.2f} of the {machine_cores} "
            f"cores at {alone.answers_per_s:.1f} answers/s: the batched query embedding runs on every core outside "
            f"the GIL, so a second replica could add at most the {max(machine_cores - alone.cpu['replicas'], 0):.2f} "
            f"cores left, about {machine_cores / alone.cpu['replicas']:.2f}× the answers/s at best."
        )
    elif results:
        notes.append(
            "No run had the machine to itself (every run shared it with more than 0.25 cores of other work), so "
            "how much of the cores one replica uses alone was not measured here."
        )
    if two_single and two:
        pairs = [
            (r[two_single.setup], r[two.setup]) for r in rounds.values() if two.setup in r and two_single.setup in r
        ]
        if all(single > 1.05 * default for single, default in pairs):
            verdict = "one thread each did better in every round"
        elif all(default > 1.05 * single for single, default in pairs):
            verdict = "the default threads did better in every round"
        else:
            verdict = "no difference that held from round to round (the other work on the machine moved more than that)"
        notes.append(
            f"With one ONNX Runtime thread per replica: {two_single.answers_per_s:.1f} answers/s, p50 "
            f"{ms(two_single.load.latency.p50)} ms, p95 {ms(two_single.load.latency.p95)} ms (default threads: "
            f"{two.answers_per_s:.1f}, {ms(two.load.latency.p50)}, {ms(two.load.latency.p95)}): {verdict}."
        )
    scaled = [m for m in (two, two_single) if m and m.answers_per_s and m.cpu.get("replicas")]
    if scaled:
        best = max(scaled, key=lambda m: m.answers_per_s)
        cpu_per_answer = best.cpu["replicas"] / best.answers_per_s  # core-seconds per answer
        needed = CLIENTS * cpu_per_answer / (P50_TARGET_MS / 1000)
        notes.append(
            f"More cores or machines: each answer cost the replicas {cpu_per_answer * 1000:.0f} ms of CPU "
            f"('{best.setup.label}'; their own CPU time, so less moved by other work than answers/s). With "
            f"{CLIENTS} clients each waiting for its answer, p50 ≈ {CLIENTS} × that CPU / cores in use, so about "
            f"{needed:.1f} cores of replicas (on one machine or several behind this nginx) "
            f"would bring the p50 to {P50_TARGET_MS} ms, if answers/s keeps growing with cores as it did from 1 to "
            "2 processes here. That is an estimate, not measured here; what stays shared (nginx, PostgreSQL) costs "
            "per request what the next notes say."
        )
    if direct and one:
        notes.append(
            f"nginx's cost: p50 {ms(one.load.latency.p50)} ms through nginx against {ms(direct.load.latency.p50)} "
            f"ms direct, {one.answers_per_s:.1f} against {direct.answers_per_s:.1f} answers/s, with "
            f"{_other(one):.2f} and {_other(direct):.2f} cores of other work; the replica's CPU per answer was "
            f"{_cpu_per_answer_ms(one):.0f} ms behind nginx and {_cpu_per_answer_ms(direct):.0f} ms direct. nginx's "
            "own CPU (next note) is a fraction of a millisecond per request, so a larger difference between these "
            "two rows is other work, not nginx."
        )
    proxied = [m for m in results if m.setup.through_nginx and m.load.requests]
    if proxied:
        requests = sum(m.load.requests + len(m.ratings.acknowledged) + len(m.ratings.failed) for m in proxied)
        nginx_s = sum(m.cpu.get("nginx", 0.0) * m.load.seconds for m in proxied)
        notes.append(
            f"nginx used {nginx_s / requests * 1000:.2f} ms of CPU per request it passed on "
            f"(asks and ratings): one core would pass on about {requests / nginx_s:,.0f} requests/s."
            if nginx_s
            else "nginx used too little CPU to measure."
        )
    rows = sum(m.stored for m in results)
    pg_s = sum(m.cpu.get("PostgreSQL", 0.0) * m.load.seconds for m in results)
    acknowledged = sum(len(m.ratings.acknowledged) for m in results)
    lost = sum(m.lost for m in results)
    failed = sum(len(m.ratings.failed) for m in results)
    if results:
        notes.append(
            f"Feedback: {acknowledged} ratings acknowledged with an id, {rows} rows stored, {lost} lost, "
            f"{failed} refused; PostgreSQL used {pg_s:.2f} CPU s in all, {pg_s / max(rows, 1) * 1000:.1f} ms per "
            "row stored (all it did, divided by the rows)."
        )
    busy = [m for m in results if m.load_before > 1.0 or _other(m) > 0.25]
    if busy:
        notes.append(
            "Other work was running on the machine during "
            + ", ".join(f"'{m.setup.label}' (load {m.load_before:.1f}, {_other(m):.2f} cores not ours)" for m in busy)
            + ": those rows are lower than an idle machine would give. Under such load, more processes "
            "(more threads) also take a bigger share of the contended CPU from the other jobs (the kernel shares "
            "the CPU per thread), so part of a second replica's gain here is CPU taken from other work, and the "
            "'replicas' cores column, not answers/s alone, shows what each setup got."
        )
    return notes


def _cpu_per_answer_ms(m: Measured) -> float:
    return m.cpu.get("replicas", 0.0) / m.answers_per_s * 1000 if m.answers_per_s else float("nan")


def _other(m: Measured) -> float:
    return max(m.cpu.get("whole machine", 0.0) - sum(m.cpu.get(part, 0.0) for part in CPU_PARTS), 0.0)


MEANING = [
    "Why a second process can help on one machine, and how little: the answer pipeline around the model "
    "is Python and holds the GIL (retrieval, rerank, scoring), so one process runs one of those at a time, "
    "while the query embedding (ONNX Runtime, outside the GIL, concurrent questions in one batch) spreads "
    "over both cores. A second process has its own GIL, so it can use the CPU the first leaves idle while "
    "it is in Python; once both cores are full, more replicas only add queueing. The gain is bounded by "
    "that idle CPU: compare the 'replicas' cores column of 1 and 2 replicas.",
    "Correctness is the other half of what these rows show: every setup answered through the documented "
    "nginx config with feedback in one PostgreSQL database, and the ratings column counts acknowledged "
    "ratings against the rows found in the database (tests/test_replicas.py also kills a replica mid-load "
    "to show that no acknowledged row is lost and nginx passes the questions on).",
]


def run(ws: Workspace, quick: bool = False) -> Section:
    section = Section("Replicas behind nginx, feedback in PostgreSQL")
    programs, nginx_path = postgres_programs(), nginx_program()
    if programs is None or nginx_path is None:
        missing = " and ".join(name for name, found in (("postgresql", programs), ("nginx", nginx_path)) if not found)
        section.notes.append(f"not run: {missing} not installed (apt-get install {missing}; scripts/setup.sh does)")
        return section
    measured_questions = gold_questions()[1:]
    warm_up = [paraphrase(q) for q in measured_questions]
    if quick:
        warm_up = warm_up[:40]
    questions = overload_questions(measured_questions)  # new to every replica's query-vector cache
    seconds = QUICK_RUN_SECONDS if quick else RUN_SECONDS
    rounds = QUICK_ROUNDS if quick else ROUNDS
    pg = PostgresServer(programs).start()
    results = []
    try:
        for round_no in range(1, rounds + 1):
            for number, setup in enumerate(SETUPS, 1):
                tag = f"run{round_no}x{number}"
                measured = _run_setup(ws, setup, tag, pg, nginx_path, questions, warm_up, seconds)
                measured.round = str(round_no)
                results.append(measured)
    finally:
        pg.stop()
    pooled = by_setup(results) if rounds > 1 else []
    section.tables.append(
        Table(
            [
                "setup",
                "round",
                "clients",
                "s",
                "requests",
                "answers/s",
                "p50 ms",
                "p95 ms",
                "max ms",
                "503 (busy)",
                "other errors",
                "asks per replica",
                "ratings acknowledged / stored / lost / failed",
                "load (1 min) before → after",
            ],
            [_row(m) for m in results] + [_row(m) for m in pooled],
            f"POST /api/ask from {CLIENTS} clients for {seconds} s per setup and round ({rounds} rounds, every "
            "setup once per round; 'all' pools a setup's rounds), "
            f"{EMBEDDER}, each setup on replicas "
            f"started for it and warmed with {len(warm_up)} paraphrased gold questions; the same questions (gold "
            "questions behind other openings, new to the replicas' query-vector caches) for every setup. One "
            f"answer in {RATE_EVERY} is rated (POST /api/feedback, the same path as the ask); latency is of the "
            "asks alone. Asks per replica: from nginx's access log (the replica that answered).",
        )
    )
    section.tables.append(
        Table(
            [
                "setup",
                "round",
                "replicas (cores)",
                "nginx",
                "PostgreSQL",
                "bench clients",
                "all of this run",
                "whole machine",
                "other work",
                "load (1 min) before → after",
            ],
            [_cpu_row(m) for m in results] + [_cpu_row(m) for m in pooled],
            f"CPU used during each run, in cores on average (this machine has {cores()}): CPU seconds from /proc "
            "of each process tree, over the run's wall time. Whole machine from /proc/stat (busy = not idle, "
            "not waiting for I/O); other work = whole machine − this run's processes.",
        )
    )
    section.notes += interpret(results, cores())
    section.notes += MEANING
    section.notes += [
        f"'{m.setup.label}' (round {m.round}) asked more than {len(questions)} questions: some were repeats."
        for m in results
        if m.load.requests > len(questions)
    ]
    for m in pooled or results:
        errors = sorted(set(m.load.errors + m.ratings.failed))
        section.notes += [f"error ({m.setup.label}): {e}" for e in errors[:4]]
        if m.setup.replicas == 2:
            met = m.load.latency.p50 <= P50_TARGET_MS and m.load.latency.p95 <= P95_TARGET_MS and not m.load.errors
            section.targets.append(
                Target(
                    f"full answer p50 ≤ {P50_TARGET_MS} ms, p95 ≤ {P95_TARGET_MS} ms at {CLIENTS} clients, 0 errors "
                    f"({EMBEDDER}, {m.setup.label})",
                    f"p50 {ms(m.load.latency.p50)} ms, p95 {ms(m.load.latency.p95)} ms, {len(m.load.errors)} errors, "
                    f"{m.answers_per_s:.1f} answers/s",
                    met,
                    ""
                    if met
                    else f"the 2 cores are full ({m.cpu.get('whole machine', 0):.1f} busy, "
                    f"{_other(m):.1f} of them other work): p50 ≈ clients / answers per second, and a second "
                    "replica adds only the CPU one process leaves idle; see the section's notes",
                )
            )
    return section
