-- coinlstm schema for MySQL / MariaDB. Generated from coinlstm/db/schema.py by
-- `coinlstm init-db --print-ddl`; tests/unit/test_schema.py keeps the two equal.

CREATE TABLE coin_info (
	id SMALLINT NOT NULL AUTO_INCREMENT, 
	symbol VARCHAR(20) NOT NULL, 
	`baseAsset` VARCHAR(16) NOT NULL, 
	`quoteAsset` VARCHAR(16) NOT NULL, 
	status VARCHAR(20), 
	time_update INTEGER, 
	exchange VARCHAR(16) DEFAULT 'binance', 
	PRIMARY KEY (id), 
	UNIQUE (symbol)
)ENGINE=InnoDB CHARSET=utf8mb4;
CREATE INDEX `ix_coin_info_quoteAsset` ON coin_info (`quoteAsset`);

CREATE TABLE forecast_scores (
	id INTEGER NOT NULL AUTO_INCREMENT, 
	id_prediction INTEGER NOT NULL, 
	id_coin SMALLINT NOT NULL, 
	model VARCHAR(32) NOT NULL, 
	target VARCHAR(16) NOT NULL, 
	`interval` VARCHAR(8) NOT NULL, 
	`openTime_next` BIGINT NOT NULL, 
	`openTime_last` BIGINT NOT NULL, 
	forecast DOUBLE NOT NULL, 
	naive DOUBLE NOT NULL, 
	actual DOUBLE NOT NULL, 
	error DOUBLE NOT NULL, 
	naive_error DOUBLE NOT NULL, 
	direction_hit BOOL, 
	time_scored INTEGER NOT NULL, 
	lower_80 DOUBLE, 
	upper_80 DOUBLE, 
	inside_80 BOOL, 
	lower_95 DOUBLE, 
	upper_95 DOUBLE, 
	inside_95 BOOL, 
	source VARCHAR(8) NOT NULL DEFAULT 'live', 
	PRIMARY KEY (id), 
	CONSTRAINT uq_forecast_scores_series_next UNIQUE (id_coin, model, target, `interval`, `openTime_next`), 
	UNIQUE (id_prediction)
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE TABLE historical_price_predictions (
	id INTEGER NOT NULL AUTO_INCREMENT, 
	id_coin SMALLINT NOT NULL, 
	time_create INTEGER NOT NULL, 
	price_predict TEXT NOT NULL, 
	price_actual TEXT NOT NULL, 
	price_preidct_last DOUBLE NOT NULL, 
	price_predict_previous DOUBLE, 
	price_actual_last DOUBLE NOT NULL, 
	price_actual_previous DOUBLE, 
	run_id VARCHAR(64), 
	`openTime_next` BIGINT, 
	model VARCHAR(32), 
	skill DOUBLE, 
	target VARCHAR(16), 
	edge BOOL, 
	horizon INTEGER, 
	price_predict_horizon TEXT, 
	`interval` VARCHAR(8), 
	lower_80 DOUBLE, 
	upper_80 DOUBLE, 
	lower_95 DOUBLE, 
	upper_95 DOUBLE, 
	price_bands TEXT, 
	source VARCHAR(8) NOT NULL DEFAULT 'live', 
	PRIMARY KEY (id), 
	CONSTRAINT uq_historical_pred_run_coin UNIQUE (run_id, id_coin)
)ENGINE=InnoDB CHARSET=utf8mb4;
CREATE INDEX ix_historical_pred_coin_interval_next ON historical_price_predictions (id_coin, `interval`, `openTime_next`);
CREATE INDEX ix_historical_price_predictions_id_coin ON historical_price_predictions (id_coin);
CREATE INDEX ix_historical_price_predictions_time_create ON historical_price_predictions (time_create);

CREATE TABLE historical_train (
	id INTEGER NOT NULL AUTO_INCREMENT, 
	id_coin SMALLINT NOT NULL, 
	time_create INTEGER NOT NULL, 
	price_test TEXT NOT NULL, 
	price_predict TEXT NOT NULL, 
	`RMSE` DOUBLE NOT NULL, 
	max_error DOUBLE NOT NULL, 
	`openTime_last` BIGINT NOT NULL, 
	`openTime_newest` BIGINT, 
	`MAE` DOUBLE, 
	`MAPE` DOUBLE, 
	direction_accuracy DOUBLE, 
	`naive_RMSE` DOUBLE, 
	naive_max_error DOUBLE, 
	`naive_MAE` DOUBLE, 
	`naive_MAPE` DOUBLE, 
	naive_direction_accuracy DOUBLE, 
	skill DOUBLE, 
	run_id VARCHAR(64), 
	model VARCHAR(32), 
	backend VARCHAR(16), 
	settings TEXT, 
	n_train INTEGER, 
	n_val INTEGER, 
	n_test INTEGER, 
	epochs_run INTEGER, 
	train_seconds DOUBLE, 
	target VARCHAR(16), 
	shrinkage DOUBLE, 
	shrinkage_t DOUBLE, 
	edge BOOL, 
	horizon INTEGER, 
	`interval` VARCHAR(8), 
	n_cal INTEGER, 
	coverage_80 DOUBLE, 
	width_80 DOUBLE, 
	winkler_80 DOUBLE, 
	coverage_95 DOUBLE, 
	width_95 DOUBLE, 
	winkler_95 DOUBLE, 
	price_bands TEXT, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_historical_train_run_coin UNIQUE (run_id, id_coin)
)ENGINE=InnoDB CHARSET=utf8mb4;
CREATE INDEX ix_historical_train_id_coin ON historical_train (id_coin);
CREATE INDEX ix_historical_train_time_create ON historical_train (time_create);

CREATE TABLE job_runs (
	run_id VARCHAR(64) NOT NULL, 
	market VARCHAR(16) NOT NULL, 
	executor VARCHAR(16) NOT NULL, 
	host VARCHAR(255) NOT NULL, 
	pid INTEGER NOT NULL, 
	time_start INTEGER NOT NULL, 
	time_end INTEGER, 
	status VARCHAR(16) NOT NULL, 
	pairs_ok INTEGER, 
	pairs_failed INTEGER, 
	reason VARCHAR(500), 
	failures TEXT, 
	PRIMARY KEY (run_id)
)ENGINE=InnoDB CHARSET=utf8mb4;
CREATE INDEX ix_job_runs_time_start ON job_runs (time_start);

CREATE TABLE movers_hours (
	exchange VARCHAR(16) NOT NULL, 
	market VARCHAR(16) NOT NULL, 
	`interval` VARCHAR(8) NOT NULL, 
	`openTime` BIGINT NOT NULL, 
	pairs INTEGER NOT NULL, 
	spearman DOUBLE NOT NULL, 
	naive_spearman DOUBLE NOT NULL, 
	PRIMARY KEY (exchange, market, `interval`, `openTime`)
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE TABLE pair_costs (
	id_coin SMALLINT NOT NULL, 
	model VARCHAR(32) NOT NULL, 
	target VARCHAR(16) NOT NULL, 
	`interval` VARCHAR(8) NOT NULL, 
	as_of BIGINT NOT NULL, 
	spread DOUBLE, 
	autocovariance DOUBLE, 
	spread_returns INTEGER NOT NULL, 
	trades INTEGER NOT NULL, 
	value DOUBLE, 
	value_pvalue DOUBLE, 
	naive_size DOUBLE, 
	PRIMARY KEY (id_coin, model, target, `interval`)
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE TABLE scoring_marks (
	`interval` VARCHAR(8) NOT NULL, 
	market VARCHAR(16) NOT NULL, 
	forecast_id INTEGER NOT NULL, 
	PRIMARY KEY (`interval`, market)
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE TABLE scoring_pending (
	`interval` VARCHAR(8) NOT NULL, 
	market VARCHAR(16) NOT NULL, 
	id_prediction INTEGER NOT NULL, 
	PRIMARY KEY (`interval`, market, id_prediction)
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE TABLE track_record_sums (
	id_coin SMALLINT NOT NULL, 
	model VARCHAR(32) NOT NULL, 
	target VARCHAR(16) NOT NULL, 
	`interval` VARCHAR(8) NOT NULL, 
	newest BIGINT NOT NULL, 
	scored INTEGER NOT NULL, 
	scored_live INTEGER NOT NULL, 
	scored_backfill INTEGER NOT NULL, 
	hits INTEGER NOT NULL, 
	moved INTEGER NOT NULL, 
	sq_error DOUBLE NOT NULL, 
	sq_naive DOUBLE NOT NULL, 
	abs_error DOUBLE NOT NULL, 
	abs_naive DOUBLE NOT NULL, 
	d_sum DOUBLE NOT NULL, 
	d_sq DOUBLE NOT NULL, 
	banded_80 INTEGER NOT NULL, 
	inside_80 INTEGER NOT NULL, 
	widths_80 INTEGER NOT NULL, 
	width_sum_80 DOUBLE NOT NULL, 
	banded_95 INTEGER NOT NULL, 
	inside_95 INTEGER NOT NULL, 
	widths_95 INTEGER NOT NULL, 
	width_sum_95 DOUBLE NOT NULL, 
	lag_1 DOUBLE NOT NULL, 
	lag_2 DOUBLE NOT NULL, 
	lag_3 DOUBLE NOT NULL, 
	lag_4 DOUBLE NOT NULL, 
	lag_5 DOUBLE NOT NULL, 
	lag_6 DOUBLE NOT NULL, 
	lag_7 DOUBLE NOT NULL, 
	lag_8 DOUBLE NOT NULL, 
	lag_9 DOUBLE NOT NULL, 
	lag_10 DOUBLE NOT NULL, 
	lag_11 DOUBLE NOT NULL, 
	lag_12 DOUBLE NOT NULL, 
	lag_13 DOUBLE NOT NULL, 
	lag_14 DOUBLE NOT NULL, 
	lag_15 DOUBLE NOT NULL, 
	lag_16 DOUBLE NOT NULL, 
	lag_17 DOUBLE NOT NULL, 
	lag_18 DOUBLE NOT NULL, 
	lag_19 DOUBLE NOT NULL, 
	lag_20 DOUBLE NOT NULL, 
	lag_21 DOUBLE NOT NULL, 
	lag_22 DOUBLE NOT NULL, 
	lag_23 DOUBLE NOT NULL, 
	lag_24 DOUBLE NOT NULL, 
	head_1 DOUBLE, 
	head_2 DOUBLE, 
	head_3 DOUBLE, 
	head_4 DOUBLE, 
	head_5 DOUBLE, 
	head_6 DOUBLE, 
	head_7 DOUBLE, 
	head_8 DOUBLE, 
	head_9 DOUBLE, 
	head_10 DOUBLE, 
	head_11 DOUBLE, 
	head_12 DOUBLE, 
	head_13 DOUBLE, 
	head_14 DOUBLE, 
	head_15 DOUBLE, 
	head_16 DOUBLE, 
	head_17 DOUBLE, 
	head_18 DOUBLE, 
	head_19 DOUBLE, 
	head_20 DOUBLE, 
	head_21 DOUBLE, 
	head_22 DOUBLE, 
	head_23 DOUBLE, 
	head_24 DOUBLE, 
	tail_1 DOUBLE, 
	tail_2 DOUBLE, 
	tail_3 DOUBLE, 
	tail_4 DOUBLE, 
	tail_5 DOUBLE, 
	tail_6 DOUBLE, 
	tail_7 DOUBLE, 
	tail_8 DOUBLE, 
	tail_9 DOUBLE, 
	tail_10 DOUBLE, 
	tail_11 DOUBLE, 
	tail_12 DOUBLE, 
	tail_13 DOUBLE, 
	tail_14 DOUBLE, 
	tail_15 DOUBLE, 
	tail_16 DOUBLE, 
	tail_17 DOUBLE, 
	tail_18 DOUBLE, 
	tail_19 DOUBLE, 
	tail_20 DOUBLE, 
	tail_21 DOUBLE, 
	tail_22 DOUBLE, 
	tail_23 DOUBLE, 
	tail_24 DOUBLE, 
	PRIMARY KEY (id_coin, model, target, `interval`)
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE TABLE track_records (
	id_coin SMALLINT NOT NULL, 
	model VARCHAR(32) NOT NULL, 
	target VARCHAR(16) NOT NULL, 
	`interval` VARCHAR(8) NOT NULL, 
	`window` VARCHAR(8) NOT NULL, 
	as_of BIGINT NOT NULL, 
	scored INTEGER NOT NULL, 
	rmse DOUBLE, 
	naive_rmse DOUBLE, 
	skill DOUBLE, 
	mae DOUBLE, 
	naive_mae DOUBLE, 
	direction DOUBLE, 
	moved INTEGER NOT NULL, 
	dm_stat DOUBLE, 
	dm_pvalue DOUBLE, 
	dm_pvalue_worse DOUBLE, 
	verdict VARCHAR(16) NOT NULL, 
	dm_pvalue_adjusted DOUBLE, 
	dm_pvalue_worse_adjusted DOUBLE, 
	coverage_80 DOUBLE, 
	banded_80 INTEGER, 
	width_80 DOUBLE, 
	coverage_95 DOUBLE, 
	banded_95 INTEGER, 
	width_95 DOUBLE, 
	scored_live INTEGER, 
	scored_backfill INTEGER, 
	PRIMARY KEY (id_coin, model, target, `interval`, `window`)
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE TABLE candlestick_data (
	`idCoin` SMALLINT NOT NULL, 
	`openTime` BIGINT NOT NULL, 
	open NUMERIC(38, 8) NOT NULL, 
	high NUMERIC(38, 8) NOT NULL, 
	low NUMERIC(38, 8) NOT NULL, 
	close NUMERIC(38, 8) NOT NULL, 
	volume NUMERIC(38, 8) NOT NULL, 
	`closeTime` BIGINT NOT NULL, 
	`quoteAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`numberOfTrader` BIGINT NOT NULL, 
	`takerBuyBaseAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`takerBuyQuoteAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`ignore` VARCHAR(40) NOT NULL, 
	PRIMARY KEY (`idCoin`, `openTime`), 
	FOREIGN KEY(`idCoin`) REFERENCES coin_info (id)
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE TABLE candlestick_data_12h (
	`idCoin` SMALLINT NOT NULL, 
	`openTime` BIGINT NOT NULL, 
	open NUMERIC(38, 8) NOT NULL, 
	high NUMERIC(38, 8) NOT NULL, 
	low NUMERIC(38, 8) NOT NULL, 
	close NUMERIC(38, 8) NOT NULL, 
	volume NUMERIC(38, 8) NOT NULL, 
	`closeTime` BIGINT NOT NULL, 
	`quoteAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`numberOfTrader` BIGINT NOT NULL, 
	`takerBuyBaseAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`takerBuyQuoteAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`ignore` VARCHAR(40) NOT NULL, 
	PRIMARY KEY (`idCoin`, `openTime`), 
	FOREIGN KEY(`idCoin`) REFERENCES coin_info (id)
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE TABLE candlestick_data_15m (
	`idCoin` SMALLINT NOT NULL, 
	`openTime` BIGINT NOT NULL, 
	open NUMERIC(38, 8) NOT NULL, 
	high NUMERIC(38, 8) NOT NULL, 
	low NUMERIC(38, 8) NOT NULL, 
	close NUMERIC(38, 8) NOT NULL, 
	volume NUMERIC(38, 8) NOT NULL, 
	`closeTime` BIGINT NOT NULL, 
	`quoteAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`numberOfTrader` BIGINT NOT NULL, 
	`takerBuyBaseAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`takerBuyQuoteAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`ignore` VARCHAR(40) NOT NULL, 
	PRIMARY KEY (`idCoin`, `openTime`), 
	FOREIGN KEY(`idCoin`) REFERENCES coin_info (id)
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE TABLE candlestick_data_1d (
	`idCoin` SMALLINT NOT NULL, 
	`openTime` BIGINT NOT NULL, 
	open NUMERIC(38, 8) NOT NULL, 
	high NUMERIC(38, 8) NOT NULL, 
	low NUMERIC(38, 8) NOT NULL, 
	close NUMERIC(38, 8) NOT NULL, 
	volume NUMERIC(38, 8) NOT NULL, 
	`closeTime` BIGINT NOT NULL, 
	`quoteAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`numberOfTrader` BIGINT NOT NULL, 
	`takerBuyBaseAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`takerBuyQuoteAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`ignore` VARCHAR(40) NOT NULL, 
	PRIMARY KEY (`idCoin`, `openTime`), 
	FOREIGN KEY(`idCoin`) REFERENCES coin_info (id)
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE TABLE candlestick_data_1m (
	`idCoin` SMALLINT NOT NULL, 
	`openTime` BIGINT NOT NULL, 
	open NUMERIC(38, 8) NOT NULL, 
	high NUMERIC(38, 8) NOT NULL, 
	low NUMERIC(38, 8) NOT NULL, 
	close NUMERIC(38, 8) NOT NULL, 
	volume NUMERIC(38, 8) NOT NULL, 
	`closeTime` BIGINT NOT NULL, 
	`quoteAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`numberOfTrader` BIGINT NOT NULL, 
	`takerBuyBaseAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`takerBuyQuoteAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`ignore` VARCHAR(40) NOT NULL, 
	PRIMARY KEY (`idCoin`, `openTime`), 
	FOREIGN KEY(`idCoin`) REFERENCES coin_info (id)
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE TABLE candlestick_data_1w (
	`idCoin` SMALLINT NOT NULL, 
	`openTime` BIGINT NOT NULL, 
	open NUMERIC(38, 8) NOT NULL, 
	high NUMERIC(38, 8) NOT NULL, 
	low NUMERIC(38, 8) NOT NULL, 
	close NUMERIC(38, 8) NOT NULL, 
	volume NUMERIC(38, 8) NOT NULL, 
	`closeTime` BIGINT NOT NULL, 
	`quoteAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`numberOfTrader` BIGINT NOT NULL, 
	`takerBuyBaseAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`takerBuyQuoteAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`ignore` VARCHAR(40) NOT NULL, 
	PRIMARY KEY (`idCoin`, `openTime`), 
	FOREIGN KEY(`idCoin`) REFERENCES coin_info (id)
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE TABLE candlestick_data_2h (
	`idCoin` SMALLINT NOT NULL, 
	`openTime` BIGINT NOT NULL, 
	open NUMERIC(38, 8) NOT NULL, 
	high NUMERIC(38, 8) NOT NULL, 
	low NUMERIC(38, 8) NOT NULL, 
	close NUMERIC(38, 8) NOT NULL, 
	volume NUMERIC(38, 8) NOT NULL, 
	`closeTime` BIGINT NOT NULL, 
	`quoteAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`numberOfTrader` BIGINT NOT NULL, 
	`takerBuyBaseAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`takerBuyQuoteAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`ignore` VARCHAR(40) NOT NULL, 
	PRIMARY KEY (`idCoin`, `openTime`), 
	FOREIGN KEY(`idCoin`) REFERENCES coin_info (id)
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE TABLE candlestick_data_30m (
	`idCoin` SMALLINT NOT NULL, 
	`openTime` BIGINT NOT NULL, 
	open NUMERIC(38, 8) NOT NULL, 
	high NUMERIC(38, 8) NOT NULL, 
	low NUMERIC(38, 8) NOT NULL, 
	close NUMERIC(38, 8) NOT NULL, 
	volume NUMERIC(38, 8) NOT NULL, 
	`closeTime` BIGINT NOT NULL, 
	`quoteAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`numberOfTrader` BIGINT NOT NULL, 
	`takerBuyBaseAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`takerBuyQuoteAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`ignore` VARCHAR(40) NOT NULL, 
	PRIMARY KEY (`idCoin`, `openTime`), 
	FOREIGN KEY(`idCoin`) REFERENCES coin_info (id)
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE TABLE candlestick_data_3d (
	`idCoin` SMALLINT NOT NULL, 
	`openTime` BIGINT NOT NULL, 
	open NUMERIC(38, 8) NOT NULL, 
	high NUMERIC(38, 8) NOT NULL, 
	low NUMERIC(38, 8) NOT NULL, 
	close NUMERIC(38, 8) NOT NULL, 
	volume NUMERIC(38, 8) NOT NULL, 
	`closeTime` BIGINT NOT NULL, 
	`quoteAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`numberOfTrader` BIGINT NOT NULL, 
	`takerBuyBaseAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`takerBuyQuoteAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`ignore` VARCHAR(40) NOT NULL, 
	PRIMARY KEY (`idCoin`, `openTime`), 
	FOREIGN KEY(`idCoin`) REFERENCES coin_info (id)
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE TABLE candlestick_data_3m (
	`idCoin` SMALLINT NOT NULL, 
	`openTime` BIGINT NOT NULL, 
	open NUMERIC(38, 8) NOT NULL, 
	high NUMERIC(38, 8) NOT NULL, 
	low NUMERIC(38, 8) NOT NULL, 
	close NUMERIC(38, 8) NOT NULL, 
	volume NUMERIC(38, 8) NOT NULL, 
	`closeTime` BIGINT NOT NULL, 
	`quoteAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`numberOfTrader` BIGINT NOT NULL, 
	`takerBuyBaseAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`takerBuyQuoteAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`ignore` VARCHAR(40) NOT NULL, 
	PRIMARY KEY (`idCoin`, `openTime`), 
	FOREIGN KEY(`idCoin`) REFERENCES coin_info (id)
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE TABLE candlestick_data_4h (
	`idCoin` SMALLINT NOT NULL, 
	`openTime` BIGINT NOT NULL, 
	open NUMERIC(38, 8) NOT NULL, 
	high NUMERIC(38, 8) NOT NULL, 
	low NUMERIC(38, 8) NOT NULL, 
	close NUMERIC(38, 8) NOT NULL, 
	volume NUMERIC(38, 8) NOT NULL, 
	`closeTime` BIGINT NOT NULL, 
	`quoteAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`numberOfTrader` BIGINT NOT NULL, 
	`takerBuyBaseAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`takerBuyQuoteAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`ignore` VARCHAR(40) NOT NULL, 
	PRIMARY KEY (`idCoin`, `openTime`), 
	FOREIGN KEY(`idCoin`) REFERENCES coin_info (id)
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE TABLE candlestick_data_5m (
	`idCoin` SMALLINT NOT NULL, 
	`openTime` BIGINT NOT NULL, 
	open NUMERIC(38, 8) NOT NULL, 
	high NUMERIC(38, 8) NOT NULL, 
	low NUMERIC(38, 8) NOT NULL, 
	close NUMERIC(38, 8) NOT NULL, 
	volume NUMERIC(38, 8) NOT NULL, 
	`closeTime` BIGINT NOT NULL, 
	`quoteAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`numberOfTrader` BIGINT NOT NULL, 
	`takerBuyBaseAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`takerBuyQuoteAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`ignore` VARCHAR(40) NOT NULL, 
	PRIMARY KEY (`idCoin`, `openTime`), 
	FOREIGN KEY(`idCoin`) REFERENCES coin_info (id)
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE TABLE candlestick_data_6h (
	`idCoin` SMALLINT NOT NULL, 
	`openTime` BIGINT NOT NULL, 
	open NUMERIC(38, 8) NOT NULL, 
	high NUMERIC(38, 8) NOT NULL, 
	low NUMERIC(38, 8) NOT NULL, 
	close NUMERIC(38, 8) NOT NULL, 
	volume NUMERIC(38, 8) NOT NULL, 
	`closeTime` BIGINT NOT NULL, 
	`quoteAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`numberOfTrader` BIGINT NOT NULL, 
	`takerBuyBaseAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`takerBuyQuoteAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`ignore` VARCHAR(40) NOT NULL, 
	PRIMARY KEY (`idCoin`, `openTime`), 
	FOREIGN KEY(`idCoin`) REFERENCES coin_info (id)
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE TABLE candlestick_data_8h (
	`idCoin` SMALLINT NOT NULL, 
	`openTime` BIGINT NOT NULL, 
	open NUMERIC(38, 8) NOT NULL, 
	high NUMERIC(38, 8) NOT NULL, 
	low NUMERIC(38, 8) NOT NULL, 
	close NUMERIC(38, 8) NOT NULL, 
	volume NUMERIC(38, 8) NOT NULL, 
	`closeTime` BIGINT NOT NULL, 
	`quoteAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`numberOfTrader` BIGINT NOT NULL, 
	`takerBuyBaseAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`takerBuyQuoteAssetVolume` NUMERIC(38, 8) NOT NULL, 
	`ignore` VARCHAR(40) NOT NULL, 
	PRIMARY KEY (`idCoin`, `openTime`), 
	FOREIGN KEY(`idCoin`) REFERENCES coin_info (id)
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	PRIMARY KEY (version_num)
);
INSERT INTO alembic_version (version_num) VALUES ('0005');
