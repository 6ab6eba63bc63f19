"""One module per ``coinlstm`` subcommand, each with ``add_arguments(parser)`` and
``run(args) -> int`` (the CLI imports only the chosen one). They compose the jobs, the runtime
and the web app below them; no command module is imported from below."""
