"""The application layer: the CLI and its commands, the market job, the per-pair job,
executors, locks, the demo. Imports every layer below; nothing imports it."""
