"""The tutorial's stack for one pair, as its hourly cron ran it: a reimplementation written for
bench/latency.py (the tutorial's reference model, docs/training.md; its choices kept, leaks
included).

Keras on TensorFlow; the pair's candles read from the database into pandas; the 10 numeric
kline columns as float32; a MinMaxScaler fitted on ALL rows (the tutorial's leak: the
validation rows are scaled with their own min and max); supervised framing by shifting the
frame (``n_hours = 1`` past candle predicts the next close); the last 48 rows as validation;
LSTM(64, return_sequences) -> LSTM(64) -> Dense(1), mse, adam; 50 epochs, batch 128, shuffle
off, EarlyStopping(val_loss, min_delta 1e-15, patience 30); predictions inverted to prices;
RMSE and max error on the 48 validation candles; architecture as JSON under models/, weights
as HDF5 under weights/; the next close forecast from the newest candle; one historical_train
row and one historical_price_predictions row written (the SPEC's columns, in one
transaction). Not the project's pipeline: nothing of train/ or predict/ is used.

The bench runs it in a fresh process per pair, one after another::

    KERAS_BACKEND=tensorflow python bench/tutorial_stack.py --db URL --coin-id 1 \
        --symbol ADAETH --artifacts DIR --result-json FILE

The result JSON has the fit's seconds and epochs and, beside the tutorial's RMSE, the naive
forecast's (next close = last close) on the same 48 candles.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # the tutorial's stack, before Keras
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402 - the backend must be chosen before Keras is imported
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

STARTED = time.perf_counter()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from sklearn.preprocessing import MinMaxScaler  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from coinlstm import db  # noqa: E402
from coinlstm.core.columns import CLOSE_INDEX, FEATURE_COLUMNS  # noqa: E402

N_HOURS = 1
VALIDATION = 48
UNITS = 64
EPOCHS = 50
BATCH = 128
PATIENCE = 30


def frame_supervised(values: np.ndarray, n_in: int) -> np.ndarray:
    """Rows of [features at t-n_in .. t-1, features at t]: the frame shifted and joined, rows
    with a missing shift dropped (the tutorial's series_to_supervised idea)."""
    frame = pd.DataFrame(values)
    shifted = [frame.shift(lag) for lag in range(n_in, 0, -1)] + [frame]
    return pd.concat(shifted, axis=1).dropna().to_numpy(dtype=np.float32)


def read_candles(engine: sa.Engine, coin_id: int) -> pd.DataFrame:
    table = db.candlestick_data
    query = (sa.select(table.c.openTime, *(table.c[name] for name in FEATURE_COLUMNS))
             .where(table.c.idCoin == coin_id).order_by(table.c.openTime))
    with engine.connect() as conn:
        return pd.read_sql(query, conn)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--coin-id", type=int, required=True)
    parser.add_argument("--symbol", required=True)
    parser.add_argument("--artifacts", type=Path, required=True)
    parser.add_argument("--result-json", type=Path, required=True)
    args = parser.parse_args(argv)
    imported = time.perf_counter() - STARTED

    engine = sa.create_engine(args.db)
    candles = read_candles(engine, args.coin_id)
    values = candles[list(FEATURE_COLUMNS)].astype("float32").to_numpy()
    n_features = values.shape[1]
    scaler = MinMaxScaler(feature_range=(0, 1))
    scaled = scaler.fit_transform(values)  # all rows: the tutorial's leak, kept
    framed = frame_supervised(scaled, N_HOURS)
    n_obs = N_HOURS * n_features
    inputs = framed[:, :n_obs].reshape(-1, N_HOURS, n_features)
    targets = framed[:, n_obs + CLOSE_INDEX]
    train_x, val_x = inputs[:-VALIDATION], inputs[-VALIDATION:]
    train_y, val_y = targets[:-VALIDATION], targets[-VALIDATION:]

    model = keras.Sequential([
        keras.Input(shape=(N_HOURS, n_features)),
        keras.layers.LSTM(UNITS, return_sequences=True),
        keras.layers.LSTM(UNITS),
        keras.layers.Dense(1),
    ])
    model.compile(loss="mse", optimizer="adam")
    stopper = keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=1e-15,
                                            patience=PATIENCE)
    fit_started = time.perf_counter()
    history = model.fit(train_x, train_y, epochs=EPOCHS, batch_size=BATCH,
                        validation_data=(val_x, val_y), verbose=2, shuffle=False,
                        callbacks=[stopper])
    fit_seconds = time.perf_counter() - fit_started

    low, scale = scaler.min_[CLOSE_INDEX], scaler.scale_[CLOSE_INDEX]

    def to_price(scaled_close: np.ndarray) -> np.ndarray:
        return (np.asarray(scaled_close, dtype=np.float64).reshape(-1) - low) / scale

    predicted = to_price(model.predict(val_x, verbose=0))
    actual = to_price(val_y)
    last_closes = to_price(framed[-VALIDATION:, CLOSE_INDEX])  # the close of each input row
    rmse = float(np.sqrt(np.mean((predicted - actual) ** 2)))
    max_error = float(np.max(np.abs(predicted - actual)))
    naive_rmse = float(np.sqrt(np.mean((last_closes - actual) ** 2)))

    (args.artifacts / "models").mkdir(parents=True, exist_ok=True)
    (args.artifacts / "weights").mkdir(parents=True, exist_ok=True)
    (args.artifacts / "models" / f"{args.symbol}.json").write_text(model.to_json())
    model.save_weights(args.artifacts / "weights" / f"{args.symbol}.weights.h5")

    newest = scaled[-N_HOURS:].reshape(1, N_HOURS, n_features)
    next_close = float(to_price(model.predict(newest, verbose=0))[0])
    closes = candles["close"].astype(float).to_numpy()
    now = int(time.time())
    with engine.begin() as conn:
        conn.execute(db.historical_train.insert().values(
            id_coin=args.coin_id, time_create=now, price_test=json.dumps(actual.tolist()),
            price_predict=json.dumps(predicted.tolist()), RMSE=rmse, max_error=max_error,
            openTime_last=int(candles["openTime"].iloc[-1]), model="tutorial"))
        conn.execute(db.historical_price_predictions.insert().values(
            id_coin=args.coin_id, time_create=now, price_predict=json.dumps(predicted.tolist()),
            price_actual=json.dumps(actual.tolist()), price_preidct_last=next_close,
            price_predict_previous=float(predicted[-1]), price_actual_last=float(closes[-1]),
            price_actual_previous=float(closes[-2]), model="tutorial"))
    engine.dispose()
    args.result_json.write_text(json.dumps({
        "symbol": args.symbol, "candles": len(candles), "epochs_run": len(history.epoch),
        "import_seconds": imported, "fit_seconds": fit_seconds, "rmse": rmse,
        "max_error": max_error, "naive_rmse": naive_rmse, "skill": 1 - rmse / naive_rmse,
        "next_close": next_close, "seconds": time.perf_counter() - STARTED}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
