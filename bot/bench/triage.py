"""`backcoach bench triage`: start-up time of the triage model and per-message classification latency.

Printed, never asserted (a test that depends on machine speed is a defect).  Run it pinned to one core for
the issue's goal, e.g. `taskset -c 0 backcoach bench triage`.  The messages are the tuning corpus plus a
20,000-character message; the held-out part is never read here.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from bot.triage_assess import assess


def _startup_seconds() -> tuple[float, float]:
    """A fresh interpreter: (imports and content loaded, then rules compiled + model ready + first message)."""
    code = (
        "import time; t=time.perf_counter();"
        "from content.loader import load_content; from bot.triage_model import model_for;"
        "from bot.triage_assess import assess; c=load_content(); m=time.perf_counter();"
        "model_for(c); assess('my foot is numb', c);"
        "e=time.perf_counter(); print(m-t, e-m)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    content_s, model_s = out.stdout.strip().splitlines()[-1].split()
    return float(content_s), float(model_s)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="backcoach bench triage")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the messages")
    args = parser.parse_args(argv)
    from content.loader import load_content

    startups = sorted(_startup_seconds() for _ in range(3))
    content = load_content()
    messages = [e.text for e in content.examples]
    long_message = ("I walked to the shops and back, it was a nice day and I saw a friend. " * 280)[:19_950]
    long_message += " my foot is numb"
    assess("warm up", content)
    latencies: list[float] = []
    cpu: list[float] = []
    for _ in range(args.rounds):
        for text in messages:
            started, cpu_started = time.perf_counter(), time.thread_time()
            assess(text, content)
            latencies.append(time.perf_counter() - started)
            cpu.append(time.thread_time() - cpu_started)
    latencies.sort()
    cpu.sort()
    long_times = []
    for _ in range(5):
        started = time.perf_counter()
        verdict = assess(long_message, content)
        long_times.append(time.perf_counter() - started)

    def pct(q: float, values: list[float] = latencies) -> float:
        return values[min(len(values) - 1, int(q * len(values)))] * 1e3

    print(
        f"start-up, fresh process (median of 3): imports + content {startups[1][0]:.2f} s, then triage ready "
        f"(rules compiled, model loaded, first message classified) {startups[1][1]:.2f} s"
    )
    print(
        f"classification over {len(latencies)} messages (rules + model + chat intents): "
        f"wall p50 {pct(0.5):.3f} ms, p99 {pct(0.99):.3f} ms, max {latencies[-1] * 1e3:.3f} ms; "
        f"CPU time p50 {pct(0.5, cpu):.3f} ms, p99 {pct(0.99, cpu):.3f} ms (wall includes time other processes took)"
    )
    print(
        f"a {len(long_message):,}-character message: median {sorted(long_times)[2] * 1e3:.1f} ms "
        f"(verdict: {verdict.describe()})"
    )


if __name__ == "__main__":
    main()
