"""What a thread's sleep and wake-up costs on this machine, next to a loop doing nothing.

    python bench/wake_cost.py            # medians of 5 rounds of 2,000 each
    python bench/wake_cost.py --rounds 1 --count 50

A fire spread over the second costs gnomon at least two of these: the worker that sleeps until
the fire's time, and the one it wakes to sleep until the next fire while it runs this one
(engine/pool.py). Reading the firing benchmark's CPU per fire against this figure tells the cost
of the machine (its system calls and context switches) from the cost of gnomon's own code.
Prints one JSON object: CPU µs per timed sleep of 300 µs, per hand-off (a thread waking
another, which wakes it back), and per pass of an empty Python loop, as the baseline.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time


def timed_sleeps(count: int) -> float:
    """CPU µs per wait of 300 µs on a lock nobody releases (how the pool's leader sleeps)."""
    gate = threading.Lock()
    gate.acquire()
    began = time.process_time()
    for _ in range(count):
        gate.acquire(True, 0.0003)
    return (time.process_time() - began) / count * 1e6


def hand_offs(count: int) -> float:
    """CPU µs (both threads) per round trip of two threads waking each other."""
    ping, pong = threading.Lock(), threading.Lock()
    ping.acquire()
    pong.acquire()

    def partner() -> None:
        for _ in range(count):
            ping.acquire()
            pong.release()

    thread = threading.Thread(target=partner)
    began = time.process_time()
    thread.start()
    for _ in range(count):
        ping.release()
        pong.acquire()
    thread.join()
    return (time.process_time() - began) / count * 1e6


def empty_loop(count: int) -> float:
    """CPU µs per pass of a loop that does nothing: the interpreter's own floor."""
    began = time.process_time()
    for _ in range(count * 100):
        pass
    return (time.process_time() - began) / (count * 100) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    samples: dict[str, list[float]] = {"sleep_us": [], "hand_off_us": [], "empty_loop_us": []}
    for _ in range(args.rounds):
        samples["sleep_us"].append(timed_sleeps(args.count))
        samples["hand_off_us"].append(hand_offs(args.count))
        samples["empty_loop_us"].append(empty_loop(args.count))
    result = {name: round(statistics.median(values), 3) for name, values in samples.items()}
    result.update(rounds=args.rounds, count=args.count)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
