"""Commands run against a deployed stage: `python -m ops <command> …` (see `python -m ops --help`)."""
