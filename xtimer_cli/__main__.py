"""`python -m xtimer_cli`, the same as the `xtimer` command."""
from xtimer_cli.main import cli

cli(prog_name="xtimer")
