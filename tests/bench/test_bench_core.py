"""`backcoach bench core` runs end to end and prints its figures (the speed itself is never asserted)."""

from __future__ import annotations

import re

import pytest

from bot.bench import core as bench_core


def test_bench_core_prints_both_measurements(capsys: pytest.CaptureFixture[str]) -> None:
    bench_core.main(["--events", "60", "--users", "5", "--rate", "300", "--cpus", "0"])
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("sqlite")]
    assert [("back to back" in lines[0]), ("300/s offered, 5 users" in lines[1])] == [True, True]
    for line in lines:
        figures = dict(re.findall(r"([\w/]+)=([\d.]+)", line))
        assert int(figures["events"]) == 60
        assert float(figures["events/s"]) > 0 and float(figures["p99"]) >= float(figures["p50"]) > 0
