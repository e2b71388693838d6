"""Commands run against a deployed stage or in its pipeline (`python -m ops <command>`)."""
