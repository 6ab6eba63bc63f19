"""The training configuration: one frozen dataclass, and everything generated from its fields.

Why one place: a training option used to be written four times (the field, its argparse
flag, its check, the argv a pair's process is started with), and ``train/`` read it through
partial Protocols. Here each field of :class:`TrainConfig` carries its option in its
metadata (:func:`option`): the flag, the help, how the flag's text is parsed and written
back, its check and its help group. From that one declaration come

- the CLI flags of ``train``, ``run`` and ``evaluate`` (:func:`add_arguments`) and the
  config back from the parsed flags (:func:`from_args`);
- the argv that makes a child process train with a config (:func:`to_argv`; defaults are
  left out, so a default run's command line is unchanged);
- the settings stored with a model (:meth:`TrainConfig.stored`: every field, plus the
  backend), read back by :meth:`TrainConfig.from_dict`;
- the checks (:meth:`TrainConfig.check`: each field's own, then the few that read several
  fields), one-line BadInput errors.

A new training option is one field (a subclass adds fields the same way: the generators read
whatever class the config is). ``evaluate --sweep NAME=V,V`` parses its values with the
field's own parser and checks them with its check (:func:`parse_value`).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

from coinlstm.core.config import SUPPORTED_BACKENDS
from coinlstm.core.errors import BadInput
from coinlstm.core.klines import DEFAULT_INTERVAL, INTERVAL_MS, check_interval
from train import formulations
from train.dataset import MIN_TRAIN_SAMPLES, MIN_VAL_SAMPLES, required_candles
from train.models import DEFAULT_LAYERS, DEFAULT_MODEL, DEFAULT_UNITS, MAX_LAYERS, MODEL_NAMES
from train.prediction_bands import (
    DEFAULT_CALIBRATION_SIZE,
    DEFAULT_LEVELS,
    format_levels,
    parse_levels,
)
from train.withpairs import check_with, format_with, parse_with

#: A full refit at the latest after this many hours of data time (0: every run is full).
DEFAULT_REFIT_EVERY = 24
#: Most epochs of a warm run's fine-tune.
DEFAULT_WARM_EPOCHS = 5
#: Training samples a warm run fine-tunes on: the newest 32 days of hours, 6 whole batches of
#: the default batch size (128). A partial last batch would cost the fine-tune a second
#: compiled train step (train/fit.py); padding it is no option (it changes the gradient).
DEFAULT_WARM_SAMPLES = 768

if TYPE_CHECKING:
    from coinlstm.core.config import Settings

#: The help groups, in the order the flags are listed.
TRAINING = "training (defaults: the tutorial's reference network on the return target)"
WARM_START = "warm start (train and run; docs/training.md#warm-start)"
#: The metadata key of a field's :class:`Option`.
OPTION = "option"

Check = Callable[[str, Any], None]


@dataclass(frozen=True)
class Alias:
    """A second flag that sets the option to a constant (``--cold`` = ``--refit-every 0``)."""

    flag: str
    const: Any
    help: str


@dataclass(frozen=True)
class Option:
    """A training option's flag, help, parser, writer and check (see the module doc)."""

    help: str
    #: None: ``--`` and the field name with dashes.
    flag: str | None = None
    #: The flag's text -> the value (argparse's ``type``); None: the text itself.
    parse: Callable[[str], Any] | None = None
    #: The value -> the flag's text that parses back to it; ``str`` of a float is its repr.
    render: Callable[[Any], str] = str
    #: ``(flag, value)`` -> None, or BadInput (one line).
    checks: tuple[Check, ...] = ()
    metavar: str | None = None
    #: The flag's choices (a callable: read when the parser is built, e.g. a registry).
    choices: Callable[[], Sequence[str]] | None = None
    group: str = TRAINING
    aliases: tuple[Alias, ...] = ()
    #: Whether the network's graph depends on it (the compiled steps' cache key).
    network: bool = False


def option(default: Any, help: str, **spec: Any) -> Any:
    """A TrainConfig field: its default and its :class:`Option`."""
    return field(default=default, metadata={OPTION: Option(help=help, **spec)})


# ----------------------------------------------------------------------------- the checks


def at_least(least: int) -> Check:
    def check(flag: str, value: int) -> None:
        if value < least:
            raise BadInput(f"{flag} must be at least {least}, got {value}")
    return check


def zero_or_more(flag: str, value: int) -> None:
    if value < 0:
        raise BadInput(f"{flag} must be 0 or more, got {value}")


def between(least: int, most: int) -> Check:
    def check(flag: str, value: int) -> None:
        if not least <= value <= most:
            raise BadInput(f"{flag} must be between {least} and {most}, got {value}")
    return check


def penalty(flag: str, value: float) -> None:
    """A regulariser's factor. ``not 0 <= x`` also refuses NaN, which every comparison fails."""
    if not 0 <= value < math.inf:
        raise BadInput(f"{flag} must be a finite number, 0 or more, got {value}")


def _rate(flag: str, value: float) -> None:
    if not 0 <= value < 1:
        raise BadInput(f"{flag} must be at least 0 and below 1, got {value}")


def _refit_hours(flag: str, value: int) -> None:
    if value < 0:
        raise BadInput(f"{flag} must be 0 (always a full fit) or more hours, got {value}")


def _model_name(flag: str, value: str) -> None:
    if value not in MODEL_NAMES:
        raise BadInput(f"unknown model {value!r}; choose one of {', '.join(MODEL_NAMES)}")


def _interval(flag: str, value: str) -> None:
    check_interval(value)


def _levels(flag: str, value: Sequence[float]) -> None:
    parse_levels(value)


def _penalty_option(default: float, where: str) -> Any:
    return option(default, f"{where} (default %(default)s: none)", parse=float, metavar="F",
                  checks=(penalty,), network=True)


# ----------------------------------------------------------------------------- the config


@dataclass(frozen=True)
class TrainConfig:
    """Every training option: the tutorial's reference model's settings on the return target.

    ``target="close"`` gives the tutorial's reference model exactly. Field order is the
    order of the flags in ``--help``.
    """

    model: str = option(
        DEFAULT_MODEL, "network, see train/models.py (default %(default)s: the reference "
        "2-layer LSTM)", choices=lambda: MODEL_NAMES, checks=(_model_name,), network=True)
    target: str = option(
        formulations.DEFAULT,
        "what the model predicts: 'return' (default: the next log return from scale-free "
        "inputs, anchored on the last close by a factor fitted on the calibration slice), "
        "'close' (the price level: the tutorial's reference model) or 'window' (each window "
        "divided by its first row, x / x0 - 1, predicting the window's return: the multi-coin "
        "tutorial's set-up; needs --window 2 or more)", choices=formulations.names)
    units: int = option(DEFAULT_UNITS, "units (filters for cnn) per layer (default "
                        "%(default)s)", parse=int, checks=(at_least(1),), network=True)
    layers: int = option(
        DEFAULT_LAYERS, f"recurrent layers of lstm and gru, convolutions of cnn, 1 to "
        f"{MAX_LAYERS} (default %(default)s; lstm-leaky keeps its one LSTM)", parse=int,
        metavar="N", checks=(between(1, MAX_LAYERS),), network=True)
    dropout: float = option(
        0.0, "Dropout(RATE) after each recurrent/conv layer, any model; 0 adds none (default "
        "%(default)s)", parse=float, metavar="RATE", checks=(_rate,), network=True)
    l1: float = _penalty_option(0.0, "L1 penalty on every layer's kernel")
    l2: float = _penalty_option(0.0, "L2 penalty on every layer's kernel")
    recurrent_l1: float = _penalty_option(
        0.0, "L1 penalty on every recurrent layer's recurrent kernel")
    recurrent_l2: float = _penalty_option(
        0.0, "L2 penalty on every recurrent layer's recurrent kernel")
    bias_l1: float = _penalty_option(0.0, "L1 penalty on every layer's bias")
    bias_l2: float = _penalty_option(0.0, "L2 penalty on every layer's bias")
    activity_l1: float = _penalty_option(0.0, "L1 penalty on every layer's output")
    activity_l2: float = _penalty_option(0.0, "L2 penalty on every layer's output")
    epochs: int = option(50, "most epochs (default %(default)s; early stopping may end "
                         "sooner; a warm run's fine-tune runs at most this many too)",
                         parse=int, checks=(at_least(1),))
    batch_size: int = option(128, "default %(default)s", parse=int, checks=(at_least(1),))
    patience: int = option(30, "epochs without val_loss improvement before stopping "
                           "(default %(default)s)", parse=int, checks=(zero_or_more,))
    window: int = option(1, "past candles per sample (default %(default)s)", parse=int,
                         checks=(at_least(1),))
    test_size: int = option(48, "newest samples held out for the reported figures "
                            "(default %(default)s)", parse=int, checks=(at_least(1),))
    val_size: int = option(480, "samples before the test slice watched by early stopping "
                           "(default %(default)s; shrunk for short series)", parse=int,
                           checks=(at_least(1), at_least(MIN_VAL_SAMPLES)))
    seed: int = option(42, "random seed (default %(default)s)", parse=int)
    #: None: the settings' backend (KERAS_BACKEND, default jax).
    backend: str | None = option(None, "Keras backend (env KERAS_BACKEND; default jax)",
                                 choices=lambda: SUPPORTED_BACKENDS)
    #: Train on only the newest N candles (None: all of them).
    history: int | None = option(None, "train on the newest N candles only (default: all)",
                                 parse=int, metavar="N")
    #: Closes forecast per sample: the next K (train/dataset.py, "Horizon").
    horizon: int = option(1, "forecast the next K closes (default %(default)s); the figures "
                          "run over all K steps, with each step's RMSE beside", parse=int,
                          metavar="K", checks=(at_least(1),), network=True)
    #: Other pairs whose candles are extra inputs (train/withpairs.py); None: none.
    with_pairs: tuple[str, ...] | None = option(
        None, "other pairs in the database whose close and volume are extra inputs, joined "
        "by open time (e.g. ETHBTC,BTCUSDT)", flag="--with", parse=parse_with,
        render=format_with, metavar="SYM,SYM")
    #: Candle interval: which candle table is read, and the step of the gap rule and of
    #: openTime_next. No argparse choices: an unknown interval is the check's one-line
    #: BadInput, the same message as crawl's and import's.
    interval: str = option(
        DEFAULT_INTERVAL, "candle interval trained on, e.g. 5m, 15m, 4h, 1d: reads that "
        "interval's table (candlestick_data_5m, ...; 1h is candlestick_data) and forecasts "
        "its next candle (default %(default)s)", checks=(_interval,))
    #: Levels of the prediction bands (train/prediction_bands.py).
    levels: tuple[float, ...] = option(
        DEFAULT_LEVELS, "levels of the prediction bands around every forecast (default "
        f"{format_levels(DEFAULT_LEVELS)}: 80 %% and 95 %%)", parse=parse_levels,
        render=format_levels, metavar="L,L", checks=(_levels,))
    #: Samples before the test slice that only calibration reads (the shrinkage and the
    #: bands; train/dataset.py, "Split"); 0: calibrate on the validation slice.
    calibration_size: int = option(
        DEFAULT_CALIBRATION_SIZE, "samples before the test slice that only calibration reads "
        "(the return target's shrinkage and the bands), unseen by early stopping (default "
        "%(default)s; 0: calibrate on the validation slice; falls back to it for short "
        "series)", parse=int, metavar="N", checks=(zero_or_more,))
    #: Warm start (train/warmstart.py): a full refit at the latest after this many hours of
    #: data time since the last one (0: every run is full, --cold); between them a run
    #: fine-tunes the saved model for at most ``fine_tune_epochs`` epochs on the newest
    #: ``warm_samples`` training samples.
    refit_every: int = option(
        DEFAULT_REFIT_EVERY, "a run fine-tunes the pair's saved model (same settings) and "
        "fits from scratch once every HOURS hours of data time, in the pair's own hour of "
        "that cycle (by coin id), so a market's refits are spread over the cycle "
        "(default %(default)s; 0: always from scratch)", parse=int, metavar="HOURS",
        checks=(_refit_hours,), group=WARM_START,
        aliases=(Alias("--cold", 0, "fit from scratch: the same as --refit-every 0"),))
    warm_epochs: int = option(
        DEFAULT_WARM_EPOCHS, "most epochs of a warm run's fine-tune, capped by --epochs "
        "(default %(default)s)", parse=int, metavar="N", checks=(at_least(1),),
        group=WARM_START)
    warm_samples: int = option(
        DEFAULT_WARM_SAMPLES, "newest training samples a warm run fine-tunes on "
        "(default %(default)s)", parse=int, metavar="N", checks=(at_least(MIN_TRAIN_SAMPLES),),
        group=WARM_START)

    @property
    def interval_ms(self) -> int:
        return INTERVAL_MS[self.interval]

    @property
    def fine_tune_epochs(self) -> int:
        """Most epochs of a warm run's fine-tune: --warm-epochs, never more than --epochs."""
        return min(self.warm_epochs, self.epochs)

    def check(self, symbol: str | None = None) -> None:
        """BadInput for values no model can be trained with (``symbol``: the pair trained,
        which may not be one of its own --with pairs): each option's own checks, in field
        order, then those that read several options."""
        check_interval(self.interval)  # first: the message every command gives for it
        for each in fields(self):
            spec = each.metadata.get(OPTION)
            if spec is not None:
                for check in spec.checks:
                    check(flag_of(each), getattr(self, each.name))
        formulations.get(self.target).check(self.window, self.horizon)
        check_with(self.with_pairs, symbol)
        if self.history is not None and self.history < self.required_candles():
            raise BadInput(f"--history {self.history} is too short: these settings need at "
                           f"least {self.required_candles()} candles")

    def required_candles(self) -> int:
        return required_candles(self.window, self.test_size, self.target, self.horizon)

    def backend_name(self, settings: Settings) -> str:
        """The Keras backend these options train on: --backend, else the settings' one."""
        return self.backend or settings.backend

    def to_dict(self) -> dict:
        return asdict(self)

    def stored(self, backend_name: str) -> dict:
        """The settings stored with a model (historical_train.settings, the model's
        metadata): every option, the backend resolved."""
        return {**self.to_dict(), "backend": backend_name}

    def network_settings(self) -> dict:
        """The options the network's graph depends on (the compiled steps' cache key)."""
        return {each.name: getattr(self, each.name) for each in fields(self)
                if each.metadata.get(OPTION) and each.metadata[OPTION].network}

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """A config from :meth:`to_dict`'s JSON (lists back to tuples)."""
        values = dict(data)
        for each in fields(cls):
            if isinstance(values.get(each.name), list):
                values[each.name] = tuple(values[each.name])
        return cls(**values)


def options_of(config_class: type[TrainConfig] = TrainConfig) -> list:
    """The config's fields that are options (all of TrainConfig's)."""
    return [each for each in fields(config_class) if OPTION in each.metadata]


def flag_of(each) -> str:
    spec: Option = each.metadata[OPTION]
    return spec.flag or f"--{each.name.replace('_', '-')}"


def stored_defaults() -> dict:
    """The stored settings of a default config (JSON-plain): what a saved model that predates
    an option had, the option's default."""
    return TrainConfig().to_dict()


# ----------------------------------------------------------------------------- the CLI


def add_arguments(parser: argparse.ArgumentParser,
                  config_class: type[TrainConfig] = TrainConfig) -> None:
    """The flags of every option, in their help groups (shared by train, run, evaluate)."""
    groups: dict[str, Any] = {}
    for each in options_of(config_class):
        spec: Option = each.metadata[OPTION]
        if spec.group not in groups:
            groups[spec.group] = parser.add_argument_group(spec.group)
        group = groups[spec.group]
        keywords: dict[str, Any] = {"dest": each.name, "default": each.default,
                                    "help": spec.help}
        if spec.parse is not None:
            keywords["type"] = spec.parse
        if spec.metavar is not None:
            keywords["metavar"] = spec.metavar
        if spec.choices is not None:
            keywords["choices"] = tuple(spec.choices())
        group.add_argument(flag_of(each), **keywords)
        for alias in spec.aliases:
            group.add_argument(alias.flag, dest=each.name, action="store_const",
                               const=alias.const, help=alias.help)


def from_args(args: argparse.Namespace,
              config_class: type[TrainConfig] = TrainConfig) -> TrainConfig:
    """The config of the parsed flags."""
    return config_class(**{each.name: getattr(args, each.name)
                           for each in options_of(config_class)})


def to_argv(config: TrainConfig) -> list[str]:
    """The flags that make a child process train with ``config`` (defaults left out)."""
    argv: list[str] = []
    for each in options_of(type(config)):
        value = getattr(config, each.name)
        if value is None or value == each.default:
            continue
        argv += [flag_of(each), each.metadata[OPTION].render(value)]
    return argv


# ----------------------------------------------------------------------------- one value


def field_named(name: str, config_class: type[TrainConfig] = TrainConfig):
    """The option called ``name`` (``bias_l1``, ``bias-l1`` or ``--bias-l1``); BadInput
    naming the choices if there is none."""
    wanted = name.strip().lstrip("-").replace("-", "_")
    for each in options_of(config_class):
        if wanted == each.name or flag_of(each) == f"--{name.strip().lstrip('-')}":
            return each
    raise BadInput(f"unknown training option {name!r}; choose one of "
                   f"{', '.join(each.name for each in options_of(config_class))}")


def parse_value(each, text: str) -> Any:
    """``text`` as the option's flag would parse it, then its own checks: BadInput (one
    line) for a value the flag refuses."""
    spec: Option = each.metadata[OPTION]
    flag = flag_of(each)
    try:
        value = spec.parse(text) if spec.parse is not None else text
    except (TypeError, ValueError):
        raise BadInput(f"{flag}: invalid value {text!r}") from None
    if spec.choices is not None and value not in tuple(spec.choices()):
        raise BadInput(f"{flag}: invalid choice {text!r} (choose from "
                       f"{', '.join(spec.choices())})")
    for check in spec.checks:
        check(flag, value)
    return value


def with_values(config: TrainConfig, values: dict[str, Any]) -> TrainConfig:
    """``config`` with some options replaced (a sweep's grid point)."""
    return replace(config, **values)
