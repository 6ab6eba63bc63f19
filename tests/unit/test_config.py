"""Settings: a flag beats the environment, the environment beats the default."""

from __future__ import annotations

from pathlib import Path

import pytest

from coinlstm.core import config
from coinlstm.core.errors import BadInput


def test_flag_beats_environment_beats_default(tmp_path):
    env = {config.ENV_HOME: str(tmp_path), config.ENV_DB_URL: "sqlite:///from-env.sqlite",
           config.ENV_BINANCE_URL: "http://127.0.0.1:9/", config.ENV_ARTIFACTS: "env-art",
           config.ENV_BACKEND: "tensorflow"}
    from_env = config.load(env=env)
    assert (from_env.db_url, from_env.binance_url, from_env.backend) == (
        "sqlite:///from-env.sqlite", "http://127.0.0.1:9", "tensorflow")
    assert from_env.artifacts == Path("env-art").resolve()
    flags = config.load(db_url="sqlite:///flag.sqlite", binance_url="http://127.0.0.1:8",
                        artifacts=tmp_path / "flag-art", backend="jax", env=env)
    assert (flags.db_url, flags.binance_url, flags.backend) == (
        "sqlite:///flag.sqlite", "http://127.0.0.1:8", "jax")
    assert flags.artifacts == (tmp_path / "flag-art").resolve()
    defaults = config.load(env={config.ENV_HOME: str(tmp_path)})
    assert defaults.db_url == config.default_sqlite_url(tmp_path.resolve())
    assert defaults.binance_url == config.BINANCE_URL
    assert (defaults.artifacts, defaults.backend) == (tmp_path.resolve(), config.DEFAULT_BACKEND)
    assert defaults.weights_dir == tmp_path.resolve() / "weights"


def test_an_unknown_backend_is_bad_input(tmp_path):
    with pytest.raises(BadInput, match="unknown Keras backend 'theano'"):
        config.load(env={config.ENV_HOME: str(tmp_path), config.ENV_BACKEND: "theano"})


def test_fork_server_is_on_unless_the_flag_or_the_environment_turns_it_off(tmp_path):
    home = {config.ENV_HOME: str(tmp_path)}
    assert config.load(env=home).fork_server is True
    assert config.load(env={**home, config.ENV_FORK_SERVER: "1"}).fork_server is True
    assert config.load(env={**home, config.ENV_FORK_SERVER: "0"}).fork_server is False
    assert config.load(env=home, fork_server=False).fork_server is False  # --fresh-processes
