"""Test backends shipped in the package (errbot's way): fake Telegram and Slack servers on 127.0.0.1 and
drivers that play a person, used by the tests and by `backcoach bench serve` from an installed wheel."""
