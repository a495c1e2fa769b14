"""A throwaway PostgreSQL server for tests: `initdb` into a temporary folder, `pg_ctl start` on a free
loopback port with password login, removed at the end.

Debian's `postgresql` package (installed by scripts/setup.sh) puts the server programs in
/usr/lib/postgresql/<version>/bin, off PATH. The server refuses to run as root, so as root it runs as
the `postgres` user the package creates (`runuser -u postgres`), or `nobody` without one; its folder
is then that user's. Tests that need it skip, saying why, where the programs are missing.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from conftest import free_port

USER = "govdoc"
PASSWORD = "pw-Test:s3cret/@%"  # characters that must be percent-encoded in the URL
DATABASE = "govdoc"


def server_programs() -> Path | None:
    """The folder with initdb, pg_ctl and postgres, or None if PostgreSQL is not installed."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb") and shutil.which("postgres"):
        return Path(found).resolve().parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):  # the newest version
        if all((Path(folder) / name).exists() for name in ("initdb", "pg_ctl", "postgres")):
            return Path(folder)
    return None


def _server_user() -> str | None:
    """Who runs the server: None for this user, or a user to switch to when this one is root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' user exists")


class PostgresServer:
    def __init__(self, programs: Path) -> None:
        from urllib.parse import quote

        self.programs = programs
        self.user = _server_user()
        # Not under pytest's tmp_path: that is private to root (0700), and the server runs as another user.
        self.root = Path(tempfile.mkdtemp(prefix="govdoc-pg-"))
        self.data = self.root / "data"
        self.log_path = self.root / "server.log"
        self.port = free_port()
        self.url = f"postgresql://{USER}:{quote(PASSWORD, safe='')}@127.0.0.1:{self.port}/{DATABASE}"
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    def _run(self, *command: str, timeout: float = 120) -> subprocess.CompletedProcess:
        argv = [str(self.programs / command[0]), *command[1:]]
        if self.user:
            argv = ["runuser", "-u", self.user, "--", *argv]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command[:2])} failed:\n{result.stdout}\n{result.stderr}\n{self.log()}")
        return result

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
        except OSError:
            return ""

    def start(self) -> PostgresServer:
        password_file = self.root / "password"
        password_file.write_text(PASSWORD + "\n", encoding="utf-8")
        if self.user:
            shutil.chown(password_file, self.user)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            USER,
            f"--pwfile={password_file}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",  # a throwaway cluster: no need to flush its files at creation
        )
        password_file.unlink()
        self.start_server()
        self._create_database()
        return self

    def start_server(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.root}"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log_path), "-o", options, "-w", "-t", "60", "start")

    def stop_server(self) -> None:
        """Stop the server as an administrator would for a restart: every connection is closed."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", timeout=60)

    def _create_database(self) -> None:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(self.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
                    conn.execute(f"CREATE DATABASE {DATABASE}")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def connect(self):
        import psycopg

        return psycopg.connect(self.url, autocommit=True)

    def stop(self) -> None:
        try:
            if self.data.exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=60)
        except RuntimeError:
            pass  # not running
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


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
