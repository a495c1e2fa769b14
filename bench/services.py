"""Throwaway PostgreSQL and nginx on loopback, shared by the replica test (tests/test_replicas.py,
tests/pg_server.py) and the replica benchmark (bench/replicas.py).

PostgreSQL: `initdb` into a temporary folder, `pg_ctl start` on a free loopback port with password
login, removed at `stop()`. Debian's `postgresql` package (installed by scripts/setup.sh) puts the
server programs in /usr/lib/postgresql/<version>/bin, off PATH. The server refuses to run as root, so
as root it runs as the `postgres` user the package creates (`runuser -u postgres`), or `nobody`
without one; its folder is then that user's.

nginx: in the foreground with the site config of docs/deploy.md exactly as written there, only its
replica addresses and `listen` line replaced, one `server` line per replica.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import httpx

REPO = Path(__file__).resolve().parents[1]

PG_USER = "govdoc"
PG_PASSWORD = "pw-Test:s3cret/@%"  # characters that must be percent-encoded in the URL
PG_DATABASE = "govdoc"

DOC_REPLICAS = ("10.0.0.11:7860", "10.0.0.12:7860")  # the replicas as docs/deploy.md writes them


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _world_readable_folder(prefix: str) -> Path:
    """A new folder under TMPDIR (or /tmp) that another user can enter: PostgreSQL and nginx's workers
    run as `postgres`/`nobody` when started by root, and pytest's and the bench's temp folders are 0700."""
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=os.path.realpath(tempfile.gettempdir())))
    folder.chmod(0o755)
    return folder


# --- PostgreSQL ---------------------------------------------------------------------------------


def postgres_programs() -> Path | None:
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
        self.programs = programs
        self.user = _server_user()
        self.root = _world_readable_folder("govdoc-pg-")
        self.data = self.root / "data"
        self.log_path = self.root / "server.log"
        self.port = free_port()
        self.url = f"postgresql://{PG_USER}:{quote(PG_PASSWORD, safe='')}@127.0.0.1:{self.port}/{PG_DATABASE}"
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
        password_file.write_text(PG_PASSWORD + "\n", encoding="utf-8")
        if self.user:
            shutil.chown(password_file, self.user)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            PG_USER,
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

    def pid(self) -> int | None:
        """The postmaster's process id (its backends are its children), None when it is not running."""
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _create_database(self) -> None:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(self.url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
                    conn.execute(f"CREATE DATABASE {PG_DATABASE}")
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


# --- nginx --------------------------------------------------------------------------------------


def nginx_program() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


def documented_nginx_config() -> str:
    """The nginx block of docs/deploy.md's "Several replicas behind nginx"."""
    text = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    section = text.split("## Several replicas behind nginx", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```nginx\n(.*?)```", section, re.S)
    if not match:
        raise ValueError("docs/deploy.md: no nginx block under 'Several replicas behind nginx'")
    return match.group(1)


def site_config(documented: str, replica_ports: list[int], listen_port: int) -> str:
    """The documented site with each upstream's `server` lines for the documented replicas replaced by
    one line per replica on loopback (the first documented line is the template; its options kept),
    and `listen 80;` by a loopback port."""
    if not replica_ports:
        raise ValueError("at least one replica")
    for documented_replica in DOC_REPLICAS:
        if documented_replica not in documented:
            raise ValueError(f"docs/deploy.md no longer names the replica {documented_replica}")
    if "listen 80;" not in documented:
        raise ValueError("docs/deploy.md: the site no longer has `listen 80;`")
    first, *others = DOC_REPLICAS
    lines = []
    for line in documented.splitlines():
        if first in line:
            lines += [line.replace(first, f"127.0.0.1:{port}") for port in replica_ports]
        elif not any(other in line for other in others):
            lines.append(line)
    return "\n".join(lines).replace("listen 80;", f"listen 127.0.0.1:{listen_port};") + "\n"


def upstream_counts(access_log: list[str], uri_prefix: str = "/api/ask") -> dict[str, int]:
    """Requests under `uri_prefix` per replica that answered them (the last address nginx tried),
    from access-log lines written in Nginx's `upstreams` format."""
    counts: dict[str, int] = {}
    for line in access_log:
        parts = line.split(" ", 4)
        if len(parts) < 5 or not parts[2].startswith(uri_prefix):
            continue
        match = re.search(r"upstream=\[([^\]]*)\]", parts[4])
        if not match or not match.group(1):
            continue
        last = match.group(1).replace(" : ", ", ").split(", ")[-1].strip()
        counts[last] = counts.get(last, 0) + 1
    return counts


class Nginx:
    """nginx in the foreground with the documented site config, its files in one folder (a new one,
    removed at `stop()`, unless `folder` is given)."""

    def __init__(self, program: str, replica_ports: list[int], folder: Path | None = None, workers: str = "1") -> None:
        self.owns_folder = folder is None
        self.folder = folder or _world_readable_folder("govdoc-nginx-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        try:
            self._start(program, replica_ports, workers)
        except BaseException:
            self._remove_folder()
            raise

    def _start(self, program: str, replica_ports: list[int], workers: str) -> None:
        folder = self.folder
        (folder / "govdoc-qa.conf").write_text(
            site_config(documented_nginx_config(), replica_ports, self.port), encoding="utf-8"
        )
        (folder / "nginx.conf").write_text(
            f"""daemon off;
worker_processes {workers};
pid {folder}/nginx.pid;
error_log {folder}/error.log info;
events {{ worker_connections 512; }}
http {{
    log_format upstreams '$msec $request_method $uri $status upstream=[$upstream_addr] [$upstream_status]';
    access_log {folder}/access.log upstreams;
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {folder}/govdoc-qa.conf;
}}
""",
            encoding="utf-8",
        )
        command = [program, "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(folder / "nginx.conf")]
        check = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise RuntimeError(f"nginx refuses the documented config:\n{check.stderr}")
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def wait_ready(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited:\n{self.error_log()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"nginx not answering /healthz after {timeout} s:\n{self.error_log()}")

    def access_log(self) -> list[str]:
        path = self.folder / "access.log"
        return path.read_text(encoding="utf-8", errors="replace").splitlines() if path.exists() else []

    def error_log(self) -> str:
        path = self.folder / "error.log"
        return path.read_text(encoding="utf-8", errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: nginx's fast shutdown
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._remove_folder()

    def _remove_folder(self) -> None:
        if self.owns_folder:
            shutil.rmtree(self.folder, ignore_errors=True)
