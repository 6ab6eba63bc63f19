"""What the commands run: one pair's pipeline (train, forecast, store) and its result, the
evaluate backtest's tasks, steps, sweeps and reports, which pairs a job takes, the checks made
before a job starts, and the files a job writes beside its tables."""
