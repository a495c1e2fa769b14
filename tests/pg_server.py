"""A throwaway PostgreSQL server for tests (bench/services.py: `initdb` into a temporary folder,
`pg_ctl start` on a free loopback port with password login, removed at the end). Tests that need it
skip, saying why, where the server programs are missing (scripts/setup.sh installs Debian's
`postgresql`)."""

from __future__ import annotations

import pytest

from bench.services import PG_DATABASE as DATABASE  # noqa: F401  (re-exported for tests)
from bench.services import PG_PASSWORD as PASSWORD  # noqa: F401
from bench.services import PG_USER as USER  # noqa: F401
from bench.services import PostgresServer
from bench.services import postgres_programs as server_programs


@pytest.fixture(scope="module")
def postgres_server():
    """A running PostgreSQL server with an empty database; skipped if PostgreSQL is not installed."""
    programs = server_programs()
    if programs is None:
        pytest.skip("PostgreSQL server programs (initdb, pg_ctl, postgres) not found: apt-get install postgresql")
    server = PostgresServer(programs)
    try:
        yield server.start()
    finally:
        server.stop()
