"""The database retry rule: which errors are waited out, for how long, and what is said."""

from __future__ import annotations

import time

import mysql.connector.errors as mysql_errors
import pytest
from sqlalchemy.exc import OperationalError

from coinlstm.core import config
from coinlstm.core.errors import BadInput, DatabaseUnavailable
from coinlstm.db.retry import is_transient, retry


def _mysql_error(errno: int, message: str) -> OperationalError:
    return OperationalError("SELECT 1", {}, mysql_errors.OperationalError(msg=message,
                                                                          errno=errno))


@pytest.mark.parametrize(("errno", "transient"), [
    (2003, True), (2013, True), (2006, True), (2055, True), (1205, True), (1213, True),
    (1045, False), (1146, False)])
def test_which_mysql_errors_are_transient(errno, transient):
    assert is_transient(_mysql_error(errno, "x")) is transient


def test_a_transient_error_is_retried_until_it_passes():
    calls = []

    def step():
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise _mysql_error(2003, "Can't connect to MySQL server (111 Connection refused)")
        return "done"

    assert retry(step, 5, "test step") == "done"
    assert len(calls) == 3


def test_a_permanent_error_is_raised_at_once():
    calls = []

    def step():
        calls.append(1)
        raise _mysql_error(1045, "Access denied")

    with pytest.raises(OperationalError):
        retry(step, 5, "test step")
    assert calls == [1]


def test_the_budget_ends_the_wait_with_one_line():
    started = time.monotonic()

    def step():
        raise DatabaseUnavailable("cannot use database x: 2003: refused", transient=True)

    with pytest.raises(DatabaseUnavailable) as caught:
        retry(step, 0.5, "test step")
    assert 0.4 < time.monotonic() - started < 2
    assert str(caught.value) == ("cannot use database x: 2003: refused (still failing after "
                                 "0.5 s of retries)")
    with pytest.raises(DatabaseUnavailable, match="^cannot use database x: 2003: refused$"):
        retry(step, 0, "test step")  # a budget of 0: no wait at all


def test_retry_budget_flag_env_and_default():
    assert config.load(env={}).db_retry_seconds is None  # the command's own default
    env = {config.ENV_DB_RETRY_SECONDS: "7.5"}
    assert config.load(env=env).db_retry_seconds == 7.5
    assert config.load(env=env, db_retry_seconds=2).db_retry_seconds == 2
    for bad in ("-1", "soon", "inf", "nan"):
        with pytest.raises(BadInput, match="--db-retry-seconds"):
            config.load(env={config.ENV_DB_RETRY_SECONDS: bad})
