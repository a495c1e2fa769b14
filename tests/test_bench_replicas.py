"""The replica benchmark's own logic, without servers: the nginx site for N replicas made from
docs/deploy.md, nginx's access log per replica, CPU accounting from /proc text, ratings counted
against the database, the notes, and RESULTS.md updated section by section (`--only`)."""

from __future__ import annotations

import httpx

from bench import report
from bench.http_load import LoadResult
from bench.machine import parse_cpu_line, parse_proc_stat, tree_cpu_seconds
from bench.replicas import SETUPS, Measured, Ratings, by_setup, cores_used, interpret, tally_ratings
from bench.services import documented_nginx_config, site_config, upstream_counts
from bench.timing import Latency


def _upstream_servers(site: str, name: str) -> list[str]:
    block = site.split(f"upstream {name} {{", 1)[1].split("}", 1)[0]
    return [line.split()[1] for line in block.splitlines() if line.strip().startswith("server ")]


def test_site_config_has_one_server_line_per_replica_in_both_upstreams():
    documented = documented_nginx_config()
    for ports in ([7001], [7001, 7002], [7001, 7002, 7003]):
        site = site_config(documented, ports, 8080)
        wanted = [f"127.0.0.1:{port}" for port in ports]
        assert _upstream_servers(site, "govdoc_api") == wanted
        assert _upstream_servers(site, "govdoc_chat") == wanted
        assert "10.0.0.1" not in site and "listen 127.0.0.1:8080;" in site and "listen 80;" not in site
        assert site.count("max_fails=3 fail_timeout=10s;") == 2 * len(ports)  # the documented options kept
    two = site_config(documented, [7001, 7002], 8080)
    assert two == documented.replace("10.0.0.11:7860", "127.0.0.1:7001").replace(
        "10.0.0.12:7860", "127.0.0.1:7002"
    ).replace("listen 80;", "listen 127.0.0.1:8080;")


def test_upstream_counts_credit_the_replica_that_answered():
    log = [
        "1.0 POST /api/ask 200 upstream=[127.0.0.1:7001] [200]",
        "1.1 POST /api/ask 200 upstream=[127.0.0.1:7002] [200]",
        "1.2 POST /api/ask 200 upstream=[127.0.0.1:7001, 127.0.0.1:7002] [502, 200]",  # passed on
        "1.3 POST /api/feedback 200 upstream=[127.0.0.1:7001] [200]",
        "1.4 POST /api/ask/stream 200 upstream=[127.0.0.1:7002] [200]",
        "1.5 POST /api/ask 503 upstream=[127.0.0.1:7001 : 127.0.0.1:7002] [503 : 503]",
        "1.6 GET /healthz 200 upstream=[127.0.0.1:7001] [200]",
        "garbage",
    ]
    assert upstream_counts(log) == {"127.0.0.1:7001": 1, "127.0.0.1:7002": 4}
    assert upstream_counts(log, "/api/feedback") == {"127.0.0.1:7001": 1}


def test_proc_stat_parsing_and_process_trees():
    line = "4242 (python app.py (x)) S 17 4242 17 0 -1 4194560 1 0 0 0 120 30 7 3 20 0 9 0 100 0 0"
    assert parse_proc_stat(line) == (17, 120 + 30 + 7 + 3)
    table = {1: (0, 100), 10: (1, 50), 11: (10, 25), 12: (10, 25), 20: (1, 999)}
    ticks = tree_cpu_seconds([10], table) * 100  # CLOCK_TICKS is 100 on Linux
    assert round(ticks) == 100
    assert tree_cpu_seconds([404], table) == 0.0  # gone: nothing
    busy, total, steal = parse_cpu_line("cpu  100 10 50 800 20 5 5 10 0 0")
    assert (busy, total, steal) == (170, 1000, 10)
    assert cores_used({"a": 1.0, "b": 5.0}, {"a": 3.0, "b": 4.0}, 2.0) == {"a": 1.0, "b": 0.0}


def test_ratings_rate_one_answer_in_n_and_remember_the_ids():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = __import__("json").loads(request.content)
        seen.append(body)
        if "boom" in body["question"]:
            return httpx.Response(503, json={"error": "busy"})
        return httpx.Response(200, json={"id": len(seen)})

    ratings = Ratings("http://nginx", "run7", every=2)
    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        for question in ("q0", "q1", "boom2", "q3", "q4"):
            ratings(http, question, {"answer": "", "citations": [{"n": 1}]})
    assert [b["question"] for b in seen] == ["q0 #run7-0", "boom2 #run7-2", "q4 #run7-4"]
    assert seen[0]["answer"] == "—" and seen[0]["citations"] == [{"n": 1}] and seen[0]["source"] == "api"
    assert ratings.acknowledged == {"q0 #run7-0": 1, "q4 #run7-4": 3}
    assert len(ratings.failed) == 1 and ratings.failed[0].startswith("HTTP 503")
    assert ratings.pattern() == "% #run7-%"
    stored = {"q0 #run7-0": 1, "q4 #run7-4": 99, "q5 #run7-5": 4}
    assert tally_ratings(ratings.acknowledged, stored) == (3, 1, 1)  # q4 under another id; q5 never acknowledged


def _measured(setup_index: int, answers: int, p50: float, replica_cores: float, load: float = 0.3) -> Measured:
    run = LoadResult(8, seconds=10.0, latency=Latency([p50] * answers))
    ratings = Ratings("http://x", f"run{setup_index}")
    ratings.acknowledged = {f"q{i} #run{setup_index}-{i}": i for i in range(answers // 4)}
    cpu = {"replicas": replica_cores, "PostgreSQL": 0.01, "bench clients": 0.1, "whole machine": replica_cores + 0.2}
    if SETUPS[setup_index].through_nginx:
        cpu["nginx"] = 0.02
    return Measured(SETUPS[setup_index], run, ratings, stored=answers // 4, load_before=load, load_after=load, cpu=cpu)


def test_interpret_says_what_a_second_replica_and_nginx_changed():
    results = [
        _measured(0, 200, 420, 1.2),
        _measured(1, 160, 440, 1.2, load=2.5),
        _measured(2, 240, 300, 1.8),
        _measured(3, 280, 290, 1.8),
    ]
    notes = interpret(results, 2)
    text = "\n".join(notes)
    assert "24.0 answers/s against 16.0 (1.50×)" in text
    assert "nginx's cost: p50 440 ms through nginx against 420 ms direct" in text
    assert "Feedback: 220 ratings acknowledged with an id, 220 rows stored, 0 lost" in text
    assert "Other work was running on the machine during '1 replica behind nginx' (load 2.5" in text
    assert "One replica with the machine to itself ('1 replica, direct (no nginx)', round 1: 0.09 cores" in text
    assert "(default threads: 24.0, 300, 300): one thread each did better in every round." in text
    assert interpret([], 2) == []


def _section(title: str, value: str, goal: str) -> report.Section:
    section = report.Section(title, load_before="0.10 / 0.10 / 0.10", load_after="0.20 / 0.20 / 0.20")
    section.tables.append(report.Table(["a", "b"], [["x", value]], "caption"))
    section.notes.append(f"note {value}")
    section.targets.append(report.Target(goal, value, True))
    return section


def test_only_a_subset_replaces_its_sections_and_targets_in_results_md():
    machine = [("date", "day 1"), ("code", "abc"), ("load average (1/5/15 min) at start", "0.1")]
    full = report.render(
        machine, "python -m bench", [_section("First", "1", "goal one"), _section("Second", "2", "goal | two")]
    )
    assert report.merge(full, machine, "python -m bench --only x", []) == full  # nothing measured: unchanged

    again = [("date", "day 2"), ("code", "def"), ("load average (1/5/15 min) at start", "0.5")]
    merged = report.merge(
        full,
        again,
        "python -m bench --only second,third",
        [_section("Second", "22", "goal | two"), _section("Third", "3", "goal three")],
    )
    _, blocks = report.split_blocks(merged)
    assert [title for title, _ in blocks] == ["Machine", "Targets", "First", "Second", "Third"]
    blocks = dict(blocks)
    assert "day 1" in blocks["Machine"] and "day 2" not in blocks["Machine"]  # the full run's machine
    assert "| x | 1 |" in blocks["First"] and "Measured on its own" not in blocks["First"]
    assert "| x | 22 |" in blocks["Second"] and "| x | 2 |" not in blocks["Second"]
    assert "Measured on its own by `python -m bench --only second,third` on day 2 (code def" in blocks["Second"]
    targets = report._table_rows(blocks["Targets"])
    assert targets == [
        "| goal one | 1 | met |  |",
        "| goal \\| two | 22 | met |  |",
        "| goal three | 3 | met |  |",
    ]
    assert merged.startswith("# Benchmark results\n\nWritten by `python -m bench`")
    assert report.merge(merged, again, "python -m bench --only second,third", []) == merged
    assert report.merge("", machine, "cmd", [_section("Only", "1", "g")]).startswith("# Benchmark results")


def test_rounds_of_a_setup_are_pooled():
    first, second = _measured(2, 200, 300, 1.6), _measured(2, 100, 500, 2.0, load=1.5)
    first.per_replica, second.per_replica = [100, 100], [40, 60]
    first.round, second.round = "1", "2"
    second.ratings.tag, second.ratings.acknowledged = "run9", {f"q{i} #run9-{i}": i for i in range(25)}
    other = _measured(1, 160, 440, 1.2)
    pooled = by_setup([first, other, second])
    assert [m.setup for m in pooled] == [SETUPS[1], SETUPS[2]]
    both = pooled[1]
    assert both.round == "all" and both.load.seconds == 20.0 and both.load.latency.n == 300
    assert both.answers_per_s == 15.0 and both.per_replica == [140, 160] and both.stored == 75
    assert abs(both.cpu["replicas"] - 1.8) < 1e-9 and both.load_before == 1.5
    assert len(both.ratings.acknowledged) == 50 + 25 and both.ratings.tag == "run2+run9"
