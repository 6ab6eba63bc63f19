"""The schema revisions without a server: one line of history, shipped as package data, and
their DDL printable for a DBA."""

from __future__ import annotations

import fnmatch
import tomllib

from coinlstm.db import migrations
from tests.helpers import REPO


def test_the_revisions_are_one_line_ending_at_the_head():
    chain = ["0000a", "0000b", "0000c", "0000d", "0000e", "0000f", "0000g", "0000h", "0000i",
             "0001", "0002", "0003", "0004", "0005"]
    assert [(rev, down) for rev, down, _ in migrations.history()] == list(
        zip(chain, [None, *chain[:-1]], strict=True))
    assert chain == sorted(chain) and migrations.BASELINE == chain[0]
    assert migrations.scripts().get_heads() == [migrations.head_revision()]


def test_every_revision_file_is_package_data():
    """A non-editable install carries what Alembic reads: env.py, the template, versions/."""
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())[
        "tool"]["setuptools"]["package-data"]["coinlstm.db"]
    folder = REPO / "coinlstm" / "db"
    files = [path.relative_to(folder).as_posix()
             for path in (folder / "revisions").rglob("*")
             if path.is_file() and "__pycache__" not in path.parts]
    assert {"revisions/env.py", "revisions/script.py.mako",
            "revisions/versions/0000a_first_release.py"} <= set(files)
    assert all(any(fnmatch.fnmatch(name, glob) for glob in package_data) for name in files)


def test_the_ddl_of_a_new_sqlite_database_is_printed_without_connecting(tmp_path):
    url = f"sqlite:///{tmp_path / 'never.sqlite'}"
    sql = migrations.upgrade_sql(url, None)
    assert "CREATE TABLE coin_info" in sql and "ADD COLUMN \"openTime_newest\"" in sql
    assert not (tmp_path / "never.sqlite").exists()


def test_adopt_refuses_what_is_not_the_original_systems_mysql_database(tmp_path):
    """SQLite, and coinlstm's own database: one line, exit 2, nothing changed."""
    from tests.helpers import run_cli

    url = f"sqlite:///{tmp_path / 'own.sqlite'}"
    done = run_cli("db", "adopt", "--db", url)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].endswith(
        "adopts the original system's MySQL/MariaDB database; this is sqlite")
    assert not (tmp_path / "own.sqlite").exists() or run_cli(
        "db", "current", "--db", url).stdout.strip().endswith("empty (no coinlstm table); "
                                                               "any command creates the schema")
