"""A throwaway PostgreSQL server for the tests (Debian's ``postgresql`` binaries).

:func:`start_server` runs ``initdb`` into a fresh temporary folder and starts
``postgres`` on a free port of 127.0.0.1 with its Unix socket in that folder,
tuned for speed (no fsync: the data are thrown away). PostgreSQL refuses to run
as root, so as root the server runs as the ``postgres`` system user (created by
the Debian package) in a folder it owns. ``make test`` installs the package when
it is missing (the Makefile's ``postgres`` target); elsewhere the tests that
need it are skipped with :func:`find_bin_dir`'s reason.

``REHAB_TEST_POSTGRES_URL`` (e.g. ``postgresql+psycopg://me@db.example/rehab_test``)
points the tests at an existing server instead; they create and drop their own
databases on it.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "PostgresServer",
    "PostgresUnavailable",
    "find_bin_dir",
    "start_server",
    "server_from_url",
]

_INSTALL_HINT = "install it with: apt-get install -y postgresql (or run make test as root)"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server can be started here; the message says why and what to install."""


def find_bin_dir() -> Path:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``.

    ``initdb`` on the PATH first, else the newest ``/usr/lib/postgresql/<major>/bin``
    (Debian does not put its server binaries on the PATH).

    Raises
    ------
    PostgresUnavailable
        Neither is there.
    """
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = glob.glob("/usr/lib/postgresql/*/bin/initdb")

    def major(path: str) -> float:
        version = Path(path).parent.parent.name
        return float(version) if re.fullmatch(r"\d+(\.\d+)?", version) else 0.0

    if candidates:
        return Path(max(candidates, key=major)).parent
    raise PostgresUnavailable(f"PostgreSQL's initdb was not found; {_INSTALL_HINT}.")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PostgresServer:
    """A running server: superuser, host and port; :meth:`create_database` makes databases."""

    host: str
    port: int
    user: str
    password: str | None = None
    base_database: str = "postgres"
    stop_command: list[str] | None = field(default=None, repr=False)
    folder: Path | None = None

    def url(self, database: str) -> str:
        """The SQLAlchemy URL (psycopg 3 driver) of ``database`` on this server."""
        auth = self.user if self.password is None else f"{self.user}:{self.password}"
        return f"postgresql+psycopg://{auth}@{self.host}:{self.port}/{database}"

    def _admin(self, sql: str) -> None:
        import psycopg

        kwargs = dict(host=self.host, port=self.port, user=self.user, dbname=self.base_database)
        if self.password is not None:
            kwargs["password"] = self.password
        with psycopg.connect(**kwargs, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql)

    def create_database(self, prefix: str = "rehab_test") -> str:
        """Create an empty database with a unique name; its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def create_password_database(self, role: str, password: str) -> str:
        """A database owned by a new login role (``role`` plus a suffix) that must give
        ``password``; its URL (the password percent-encoded).

        The servers :func:`start_server` starts trust every local connection
        (``initdb -A trust``); for ``role`` a ``scram-sha-256`` line is put
        first in ``pg_hba.conf`` and the configuration reloaded, so a wrong or
        missing password is refused as on a hospital's server.

        Raises
        ------
        PostgresUnavailable
            An external server (``REHAB_TEST_POSTGRES_URL``), whose
            ``pg_hba.conf`` this cannot change.
        """
        from urllib.parse import quote

        if self.folder is None:
            raise PostgresUnavailable("an external server's pg_hba.conf cannot be changed here")
        role = f"{role}_{uuid.uuid4().hex[:8]}"
        literal = password.replace("'", "''")
        self._admin(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{literal}'")
        hba = self.folder / "data" / "pg_hba.conf"
        rule = f"host all {role} 127.0.0.1/32 scram-sha-256\n"
        hba.write_text(rule + hba.read_text())
        self._admin("SELECT pg_reload_conf()")
        name = f"rehab_pw_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE DATABASE "{name}" OWNER "{role}"')
        auth = f"{role}:{quote(password, safe='')}"
        return f"postgresql+psycopg://{auth}@{self.host}:{self.port}/{name}"

    def drop_database(self, url: str) -> None:
        """Drop the database ``url`` names, closing any connection still open to it."""
        name = url.rsplit("/", 1)[-1]
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop a server this module started and remove its folder (no-op for an external one)."""
        if self.stop_command is not None:
            subprocess.run(self.stop_command, capture_output=True, timeout=60, check=False)
            self.stop_command = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


def server_from_url(url: str) -> PostgresServer:
    """An existing server named by a SQLAlchemy/libpq URL (``REHAB_TEST_POSTGRES_URL``)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return PostgresServer(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        base_database=parsed.database or "postgres",
    )


def start_server(*, timeout_s: float = 60.0) -> PostgresServer:
    """initdb into a temporary folder and start a server on a free local port.

    Raises
    ------
    PostgresUnavailable
        No binaries, or root without a ``postgres`` user, or the server did not start
        (the message ends with its log).
    """
    bin_dir = find_bin_dir()
    as_user: list[str] = []
    owner = None
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        import pwd

        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable(
                "PostgreSQL refuses to run as root and there is no 'postgres' user to run it as; "
                f"{_INSTALL_HINT}."
            ) from None
        runuser = shutil.which("runuser")
        as_user = (
            [runuser, "-u", "postgres", "--"]
            if runuser
            else ["setpriv", f"--reuid={owner.pw_uid}", f"--regid={owner.pw_gid}", "--clear-groups"]
        )
    # /tmp directly (not pytest's 0700 tmp folders), so the postgres user can reach it;
    # short, because a Unix socket path must fit in 107 bytes
    folder = Path(tempfile.mkdtemp(prefix="rehab-pg-"))
    if owner is not None:
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    data = folder / "data"
    log = folder / "server.log"

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*as_user, *args], capture_output=True, text=True, timeout=timeout_s, check=False
        )

    init = run(
        str(bin_dir / "initdb"),
        "-D",
        str(data),
        "-U",
        "postgres",
        "-A",
        "trust",
        "-E",
        "UTF8",
        "--locale=C.UTF-8",
        "--no-sync",
        "--no-instructions",
    )
    if init.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise PostgresUnavailable(f"initdb failed: {init.stderr.strip() or init.stdout.strip()}")
    stop = [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
    last_error = ""
    for _attempt in range(3):  # another process may take the free port before the server does
        port = _free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={folder} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=100 -c shared_buffers=32MB"
        )
        started = run(
            str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "30",
            "-o", options, "start",
        )  # fmt: skip
        if started.returncode == 0:
            return PostgresServer(
                host="127.0.0.1", port=port, user="postgres", stop_command=stop, folder=folder
            )
        last_error = log.read_text(errors="replace")[-2000:] if log.exists() else started.stderr
        subprocess.run(stop, capture_output=True, timeout=timeout_s, check=False)
        time.sleep(0.2)
    shutil.rmtree(folder, ignore_errors=True)
    raise PostgresUnavailable(f"PostgreSQL did not start: {last_error.strip()}")
