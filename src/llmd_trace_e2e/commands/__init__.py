"""The `llmd-trace-e2e` command and its subcommands (verify, soak, predict, bench)."""
