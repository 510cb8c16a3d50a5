"""Shared fixtures: real databases (SQLite files and a throwaway PostgreSQL server)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from greenlight.core import Settings
from greenlight.store.db import engine_for
from greenlight.store.migrate import upgrade


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """A PostgreSQL cluster in a temp dir, run as the `postgres` user when we are root
    (PostgreSQL refuses to run as root)."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            pytest.fail(
                "PostgreSQL is not installed; `make test` installs it (apt-get install postgresql)."
            )
        self.bin = Path(found[-1]).parent
        self.dir = Path(tempfile.mkdtemp(prefix="greenlight-pg-"))
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        self._template = ""
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")

    def _run(self, *args: str) -> None:
        cmd = [str(a) for a in args]
        if self.as_root:
            cmd = ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(cmd)]
        subprocess.run(cmd, check=True, capture_output=True, cwd="/tmp")

    def start(self) -> None:
        data = self.dir / "data"
        self._run(
            str(self.bin / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8"
        )
        opts = (
            f"'-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
            " -c fsync=off -c max_connections=200'"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            opts,
            "-l",
            str(self.dir / "log"),
            "-w",
            "start",
        )

    def stop(self) -> None:
        try:
            self._run(
                str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "stop"
            )
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _url(self, name: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def _create(self, name: str, template: str | None = None) -> None:
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as conn:
            suffix = f' TEMPLATE "{template}"' if template else ""
            conn.execute(f'CREATE DATABASE "{name}"{suffix}')

    def new_database(self) -> str:
        """A fresh, already migrated database: a copy of one migrated once per session
        (copying is ~10x faster than running the migrations for every test)."""
        if not self._template:
            self._template = "t_template"
            self._create(self._template)
            engine = engine_for(self._url(self._template))
            upgrade(engine)
            engine.dispose()
        name = f"t_{uuid.uuid4().hex[:12]}"
        self._create(name, self._template)
        return self._url(name)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for a fresh data directory, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'greenlight.db'}")
    server: PostgresServer = request.getfixturevalue("postgres")
    return Settings(data_dir=tmp_path, database_url=server.new_database())


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    """Settings for a fresh data directory on SQLite only (pure-logic tests)."""
    return Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'greenlight.db'}")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """For CLI tests: an unused data directory, a wide terminal, nobody acting by default.

    Test folders whose commands need something else define their own ``env``.
    """
    data_dir = tmp_path / "data"
    monkeypatch.setenv("GREENLIGHT_DATA_DIR", str(data_dir))
    monkeypatch.delenv("GREENLIGHT_DATABASE_URL", raising=False)
    monkeypatch.delenv("GREENLIGHT_USER", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    return Settings.from_env({"GREENLIGHT_DATA_DIR": str(data_dir)})
