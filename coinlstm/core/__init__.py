"""The ground layer: settings, errors, the rules of symbols, intervals and klines, column
names. Imports nothing of the project."""
