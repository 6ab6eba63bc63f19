"""Candles -> supervised samples: features, gap-aware windows, splits, the fitted formulation. Pure.

Nothing here touches the database, the disk or Keras, so every rule below is tested on plain
arrays.

Samples. A sample is ``window`` consecutive candles (the input) plus the candle right after
them (the target: its close). Binance has maintenance gaps (5 in the shared data, 12 missing
hours): a sample is kept only if its ``window + 1`` candles are consecutive intervals, i.e.
the target's open time is exactly ``window`` intervals after the first input candle's. Samples
that would span a missing interval are dropped, never stitched across the gap; the candles
themselves are kept and serve the samples on either side of it.

Horizon. With ``horizon`` K > 1 a sample's target is the K candles after its window, and the
sample is kept only if its window (with the lead candle) and its K targets are all
consecutive hours. A sample is named by its first target row.

Split. The samples, oldest to newest, are cut into consecutive slices: training, validation
(early stopping only), calibration (the shrinkage of the point forecast and the prediction
bands) and test (the newest ``test_size`` samples, the figures a user sees). The calibration
slice exists so that calibration reads rows no other fitting step has seen: early stopping
picks the epoch whose validation loss was best, which makes the validation slice look
better than new data, and a shrinkage or a band fitted there is too confident. A series too
short for a calibration slice of its own (or ``calibration_size`` 0) calibrates on the
validation slice, as before this slice existed; :attr:`Split.separate_calibration` says
which. The validation slice shrinks for short series so that training keeps enough samples
(see :func:`split_samples`). With K > 1 the K - 1 samples before each slice are dropped
(purged): their targets reach into the next slice, so keeping them would fit (or stop early,
or calibrate) on later closes. At K = 1 none is dropped.

Other pairs (``--with``, train/withpairs.py) join the pair's candles by open time before any
of this; their columns follow the pair's 10 features.

Formulation. What the model reads and predicts (a level, a log return, a window's return)
is the dataset's fitted formulation (train/formulations/, chosen by ``--target``): it is
fitted on the rows the training samples use and nothing newer, so the validation and test
candles never influence it. Its ``lead`` (candles its rows read before a window) widens every
sample by that many consecutive candles.

Shapes. Target rows, targets, outputs and prices are (samples, K), K = 1 included.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from coinlstm.core.columns import FEATURE_COLUMNS
from coinlstm.core.errors import BadInput
from coinlstm.core.klines import DEFAULT_INTERVAL, INTERVAL_MS, ms_to_utc
from train import formulations
from train.formulations import CLOSE_INDEX, Formulation
from train.withpairs import join

#: Fewest training samples a model is fitted on; fewer is not a model, it is noise.
MIN_TRAIN_SAMPLES = 64
#: Fewest validation samples early stopping watches.
MIN_VAL_SAMPLES = 8


def lead(target: str) -> int:
    """Candles before a sample's window that the ``target`` formulation's inputs read."""
    return formulations.get(target).lead


def required_candles(window: int, test_size: int, target: str = formulations.DEFAULT,
                     horizon: int = 1) -> int:
    """Candles a gap-free series needs for the smallest honest split (the market job's filter):
    the first window, the K - 1 candles after the first target, the samples of the three
    slices and the 2 (K - 1) purged ones."""
    return (window + lead(target) + 3 * (horizon - 1) + test_size + MIN_VAL_SAMPLES
            + MIN_TRAIN_SAMPLES)


def feature_matrix(open_times: Sequence[int], values: Sequence[Sequence[float | None]]
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(open times as int64, features as float64); BadInput naming the first missing value.

    A NaN, an infinity or a NULL would silently poison the scaler and every prediction, so a
    series containing one is refused rather than repaired.
    """
    times = np.asarray(open_times, dtype=np.int64)
    # NumPy reads a None as NaN where the dtype is a float's: refused below with the rest.
    features = np.array(values, dtype=np.float64).reshape(len(times), len(FEATURE_COLUMNS))
    bad = ~np.isfinite(features)
    if bad.any():
        row, column = (int(i) for i in np.argwhere(bad)[0])
        raise BadInput(f"candle of {ms_to_utc(int(times[row]))} UTC has no finite "
                       f"{FEATURE_COLUMNS[column]} (NaN/NULL/inf in the data; "
                       f"{int(bad.any(axis=1).sum())} such candles); fix or re-import them")
    if len(times) > 1 and np.any(np.diff(times) <= 0):
        raise BadInput("candle open times are not strictly increasing")
    return times, features


def sample_targets(open_times: np.ndarray, window: int, interval_ms: int,
                   horizon: int = 1) -> np.ndarray:
    """First target rows of every sample whose window and ``horizon`` targets span no gap
    (see module doc)."""
    if len(open_times) < window + horizon:
        return np.zeros(0, dtype=np.int64)
    targets = np.arange(window, len(open_times) - horizon + 1, dtype=np.int64)
    spans = open_times[targets + horizon - 1] - open_times[targets - window]
    return targets[spans == (window + horizon - 1) * interval_ms]


def newest_window_is_whole(open_times: np.ndarray, window: int, interval_ms: int) -> bool:
    """Whether the newest ``window`` candles (the next forecast's input) are consecutive."""
    if len(open_times) < window:
        return False
    return int(open_times[-1] - open_times[-window]) == (window - 1) * interval_ms


@dataclass(frozen=True)
class Split:
    """Target row indices of the consecutive slices, oldest first."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    #: The slice the shrinkage and the bands are fitted on: between validation and test, or
    #: the validation slice itself when the series is too short (module doc).
    calibration: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.calibration is None:
            object.__setattr__(self, "calibration", self.val)

    @property
    def separate_calibration(self) -> bool:
        """Whether calibration reads rows that early stopping has not seen."""
        return self.calibration is not self.val


def split_samples(targets: np.ndarray, test_size: int, val_size: int,
                  horizon: int = 1, calibration_size: int = 0) -> Split:
    """Cut the samples into training, validation, calibration and test, oldest to newest.

    The test slice is always the newest ``test_size`` samples. The calibration slice is the
    ``calibration_size`` samples before it when what is left still holds the smallest
    validation and training slices; otherwise (and at 0) the validation slice is also the
    calibration slice. The validation slice is ``val_size`` samples, shrunk for short series
    to a quarter of what the later slices leave (at least MIN_VAL_SAMPLES), and further if
    training would keep fewer than MIN_TRAIN_SAMPLES. With ``horizon`` K > 1, samples whose
    K targets reach the next slice's first target are purged (module doc). Raises BadInput
    when even the smallest split does not fit.
    """
    purge = horizon - 1
    if test_size < 1 or len(targets) - test_size - 2 * purge < MIN_TRAIN_SAMPLES + MIN_VAL_SAMPLES:
        purged = f" + {2 * purge} purged (horizon {horizon})" if purge else ""
        raise BadInput(f"{len(targets)} usable samples, needs at least "
                       f"{test_size + MIN_TRAIN_SAMPLES + MIN_VAL_SAMPLES + 2 * purge} (test "
                       f"{test_size} + validation {MIN_VAL_SAMPLES} + training "
                       f"{MIN_TRAIN_SAMPLES}{purged})")
    test = targets[len(targets) - test_size:]
    earlier = targets[:len(targets) - test_size]
    earlier = earlier[earlier + purge < test[0]]
    calibration = None
    if calibration_size > 0 and len(earlier) > calibration_size:
        candidate = earlier[len(earlier) - calibration_size:]
        rest = earlier[:len(earlier) - calibration_size]
        rest = rest[rest + purge < candidate[0]]
        if len(rest) - purge >= MIN_TRAIN_SAMPLES + MIN_VAL_SAMPLES:
            calibration, earlier = candidate, rest
    # Training loses up to `purge` more samples before validation: leave room for them.
    available = len(earlier) - purge
    val = min(val_size, max(MIN_VAL_SAMPLES, available // 4))
    val = max(MIN_VAL_SAMPLES, min(val, available - MIN_TRAIN_SAMPLES))
    n_train = len(earlier) - val
    train, validation = earlier[:n_train], earlier[n_train:]
    return Split(train=train[train + purge < validation[0]], val=validation, test=test,
                 calibration=calibration)


def exact_split(targets: np.ndarray, test_size: int, val_size: int, calibration_size: int,
                train_size: int, horizon: int = 1) -> Split:
    """Slices of exactly the sizes given, newest first: test, calibration (0: none, the
    validation slice calibrates), validation, and at most the newest ``train_size`` training
    samples; the same purge as :func:`split_samples`.

    Why a second rule: a warm start (train/warmstart.py) fine-tunes on the newest training
    samples only and must watch the validation slice of the full fit it continues, whereas
    :func:`split_samples` would shrink the validation slice of a series cut that short.
    BadInput when the series cannot fill the slices or leaves fewer than MIN_TRAIN_SAMPLES
    for training.
    """
    purge = horizon - 1

    def before(rows: np.ndarray, first: int) -> np.ndarray:
        return rows[rows + purge < first]

    if test_size < 1 or len(targets) < test_size:
        raise BadInput(f"{len(targets)} usable samples, fewer than the test slice's {test_size}")
    test = targets[len(targets) - test_size:]
    earlier = before(targets[:len(targets) - test_size], int(test[0]))
    calibration = None
    if calibration_size > 0:
        calibration = earlier[max(0, len(earlier) - calibration_size):]
        earlier = before(earlier[:len(earlier) - len(calibration)],
                         int(calibration[0]) if len(calibration) else int(test[0]))
    val = earlier[max(0, len(earlier) - val_size):]
    train = before(earlier[:len(earlier) - len(val)], int(val[0]) if len(val) else 0)
    train = train[max(0, len(train) - train_size):]
    if (len(val) < val_size or (calibration is not None and len(calibration) < calibration_size)
            or len(train) < MIN_TRAIN_SAMPLES):
        raise BadInput(f"{len(targets)} usable samples cannot hold a test slice of {test_size}, "
                       f"a calibration slice of {calibration_size}, a validation slice of "
                       f"{val_size} and {MIN_TRAIN_SAMPLES} training samples")
    return Split(train=train, val=val, test=test, calibration=calibration)


def windows(scaled: np.ndarray, targets: np.ndarray, window: int) -> np.ndarray:
    """Model inputs (samples, window, features) as float32 for the given target rows."""
    offsets = np.arange(-window, 0, dtype=np.int64)
    return scaled[targets[:, None] + offsets[None, :]].astype(np.float32)


@dataclass(frozen=True)
class Dataset:
    """Everything training and evaluation need, derived from one pair's candles."""

    open_times: np.ndarray
    features: np.ndarray
    split: Split
    #: The fitted formulation (its to_dict is the saved model's scaler).
    formulation: Formulation
    window: int
    #: Closes forecast per sample (K).
    horizon: int = 1
    #: Pairs whose columns follow the 10 features (train/withpairs.py).
    with_pairs: tuple[str, ...] = ()
    #: Length of one candle (ms): what "consecutive" means.
    interval_ms: int = INTERVAL_MS[DEFAULT_INTERVAL]

    @property
    def target(self) -> str:
        """The formulation's name (--target)."""
        return self.formulation.name

    @property
    def closes(self) -> np.ndarray:
        return self.features[:, CLOSE_INDEX]

    def target_rows(self, targets: np.ndarray) -> np.ndarray:
        """Each sample's K target rows: (samples, K)."""
        return targets[:, None] + np.arange(self.horizon, dtype=np.int64)[None, :]

    def actual_closes(self, targets: np.ndarray) -> np.ndarray:
        """The closes the samples' forecasts are compared with: (samples, K)."""
        return self.closes[self.target_rows(targets)]

    @cached_property
    def _model_features(self) -> np.ndarray:
        return self.formulation.transform(self.features)

    def inputs(self, targets: np.ndarray) -> np.ndarray:
        return self.formulation.window_inputs(windows(self._model_features, targets,
                                                      self.window))

    def scaled_targets(self, targets: np.ndarray) -> np.ndarray:
        return self.formulation.model_targets(self.features, self.target_rows(targets))

    def calibrate(self, targets: np.ndarray, outputs: np.ndarray) -> formulations.Calibration:
        """The formulation's calibration on these samples' outputs (samples, K)."""
        return self.formulation.calibrate(self.features, self.target_rows(targets), outputs)

    def next_input(self) -> np.ndarray:
        """The newest ``window`` candles: the input of the forecast for the next candle."""
        return next_input(self.formulation, self.features, self.window)

    def previous_input(self) -> np.ndarray | None:
        """The input that forecast the newest candle one step ahead (None across a gap)."""
        reach = self.window + self.formulation.lead
        if not newest_window_is_whole(self.open_times, reach + 1, self.interval_ms):
            return None
        return next_input(self.formulation, self.features[:-1], self.window)

    def price_bases(self, targets: np.ndarray) -> np.ndarray:
        """The close each sample's forecast is relative to (the formulation's base offset)."""
        return self.closes[targets - self.formulation.base_offset]

    def newest_base(self, back: int = 0) -> np.ndarray:
        """The base of the forecast after the newest candle (``back`` candles earlier)."""
        index = len(self.closes) - back - self.formulation.base_offset
        return self.closes[index:index + 1]

    def last_closes(self, targets: np.ndarray) -> np.ndarray:
        """The close before each target: what the naive forecast predicts."""
        return self.closes[targets - 1]


def next_input(formulation: Formulation, features: np.ndarray, window: int) -> np.ndarray:
    """Model input (1, window, features) from the newest candles (``window + lead`` rows)."""
    scaled = formulation.transform(features[-(window + formulation.lead):])[-window:]
    return formulation.window_inputs(scaled[None, :, :]).astype(np.float32)


#: One --with pair's candles as loaded: (symbol, open times, feature rows), oldest first.
WithSeries = tuple[str, Sequence[int], Sequence[Sequence[float | None]]]


def _joined(open_times: Sequence[int], values: Sequence[Sequence[float | None]],
            with_series: Sequence[WithSeries]) -> tuple[np.ndarray, np.ndarray]:
    """The checked feature matrix, joined with the --with pairs' columns by open time."""
    times, features = feature_matrix(open_times, values)
    others = []
    for symbol, other_times, other_values in with_series:
        try:
            others.append((symbol, *feature_matrix(other_times, other_values)))
        except BadInput as exc:
            raise BadInput(f"--with {symbol}: {exc}") from None
    return join(times, features, others) if others else (times, features)


def build_dataset(open_times: Sequence[int], values: Sequence[Sequence[float | None]],
                  window: int, test_size: int, val_size: int, interval_ms: int,
                  target: str = "close", horizon: int = 1,
                  with_series: Sequence[WithSeries] = (), calibration_size: int = 0,
                  fitted: Formulation | None = None,
                  splitter: Callable[[np.ndarray], Split] | None = None) -> Dataset:
    """Validate, join (--with), window, split one pair's candles (oldest first) and fit the
    ``target`` formulation on the training rows.

    A warm start (train/warmstart.py) passes the formulation ``fitted`` at its last full fit
    (the scaler is refitted only there; its rows are still checked) and ``splitter``, its
    rule for cutting the sample targets into slices (default: :func:`split_samples`).
    """
    formulation = formulations.get(target)
    formulation.check(window, horizon)
    times, features = _joined(open_times, values, with_series)
    with_pairs = tuple(symbol for symbol, _, _ in with_series)
    needed = required_candles(window, test_size, target, horizon)
    reach = window + formulation.lead
    if len(times) < needed:
        steps = f" + {3 * (horizon - 1)} for horizon {horizon}" if horizon > 1 else ""
        joined = " at open times every --with pair has" if with_pairs else ""
        raise BadInput(f"has {len(times)} candles{joined}, needs at least {needed} "
                       f"(window {window}{_lead_words(formulation.lead)} + "
                       f"test {test_size} + validation {MIN_VAL_SAMPLES} + training "
                       f"{MIN_TRAIN_SAMPLES}{steps})")
    if not newest_window_is_whole(times, reach, interval_ms):
        raise BadInput(f"newest candles have a gap: the {reach} candle(s) before "
                       f"{ms_to_utc(int(times[-1]))} UTC are not consecutive; crawl the missing "
                       "candles or wait for the next ones")
    targets = sample_targets(times, reach, interval_ms, horizon)
    split = (split_samples(targets, test_size, val_size, horizon, calibration_size)
             if splitter is None else splitter(targets))
    if fitted is None:
        fitted = formulation.fit(features, split.train, window, horizon, with_pairs)
    else:
        formulation.check_rows(features)
    return Dataset(times, features, split, fitted, window, horizon, with_pairs, interval_ms)


def _lead_words(lead: int) -> str:
    """The candles a formulation reads before the window, as build_dataset's error says it."""
    if not lead:
        return ""
    return " + 1 previous close" if lead == 1 else f" + {lead} previous closes"
