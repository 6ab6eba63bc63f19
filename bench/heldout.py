"""The split of the shared pairs (../shared/data/binance-1h): defaults are tuned on
TUNING_PAIRS only, and REPORTED_PAIRS are only ever reported on (docs/evidence.md). Each
split has ETH-quoted pairs and one pair of another quote market."""

TUNING_PAIRS = ("ADAETH", "BNBETH", "EOSETH", "ETCETH", "ETHBTC", "BTCUSDT")
REPORTED_PAIRS = ("LINKETH", "LTCETH", "NEOETH", "TRXETH", "XRPETH", "ETHUSDT")
