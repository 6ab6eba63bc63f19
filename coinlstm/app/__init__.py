"""The application layer: the ``coinlstm`` command (cli.py) and the demo (demo.py) over one
module per subcommand (commands/), what the commands run (jobs/) beside the dashboard's web
app (web/), and the process runtime under them (runtime/). Imports every layer below; nothing
imports it. The sublayers import only downward too (pyproject.toml's import contract)."""
