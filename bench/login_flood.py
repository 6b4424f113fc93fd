"""/healthz latency while concurrent logins with random usernames hammer `gnomon serve`."""

#   python bench/login_flood.py                      # 16 attackers, 10 s per flood, 2 repeats
#   python bench/login_flood.py --attackers 32 --seconds 20 --repeats 3 --out flood.json
#
# Every login costs an argon2 hash, an unknown username's too (so that timing does not tell
# which usernames exist): random usernames make a server hash for each request. Two servers
# are measured in the same run, in turn (before, after, before, after …), each `gnomon serve`
# on SQLite with one gunicorn worker (gthread, 4 threads) on 127.0.0.1:
#
#   before: the per-address limit and the hash slots set out of reach
#           (login_max_client_failures = 100000, login_max_concurrent_hashes = 64): what gnomon
#           did before them, when only the (username, address) count applied;
#   after:  the defaults (30 failures per address per minute, 2 hashes at once per process).
#
# For each server: /healthz probed alone (idle), then during two floods of --seconds each:
#   one-address:   every attacker logs in from 127.0.0.1 (one client hammering);
#   many-addresses: each login from an address of its own in 127.1.0.0/16 (a botnet: no
#                  per-address count ever fills up; only the hash slots stand in the way).
# Attackers reuse one CSRF token and cookie each and open a connection per login; a prober sends
# one /healthz at a time on a fresh connection, 20 ms apart. Client and server share the
# machine's cores alike in both cases. Prints a JSON object: per server and flood, the median
# over the repeats of each repeat's median /healthz latency (and each repeat's), and each
# repeat's login answers by status and server CPU seconds; per flood, the ratio of the medians
# before/after.

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import requests

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from servers import (  # noqa: E402
    API,
    Server,
    cpu_seconds,
    gnomon_serve,
    rounded,
    wait_quiet,
    write_gnomon_config,
)

SERVERS = {
    "before": "[server]\nlogin_max_client_failures = 100000\nlogin_max_concurrent_hashes = 64\n",
    "after": "",
}
FLOODS = ("one-address", "many-addresses")
PROBE_EVERY_S = 0.02


def healthz_once(host: str, port: int) -> float:
    """Seconds for one GET /healthz on a fresh connection."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection(host, port, timeout=60)
    try:
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        response.read()
        assert response.status == 200, response.status
    finally:
        conn.close()
    return time.perf_counter() - started


def probe(host: str, port: int, until: float) -> list[float]:
    latencies = []
    while time.monotonic() < until:
        latencies.append(healthz_once(host, port))
        time.sleep(PROBE_EVERY_S)
    return latencies


def csrf_session(base: str) -> tuple[str, str]:
    """A session cookie and its CSRF token, fetched once and reused by one attacker."""
    response = requests.get(f"{base}{API}/auth/csrf-token", timeout=30)
    response.raise_for_status()
    return response.cookies["gnomon_session"], response.json()["data"]["csrf_token"]


class Flood:
    """`attackers` threads, each posting logins with random usernames until `until`."""

    def __init__(self, server: Server, attackers: int, many_addresses: bool) -> None:
        self.host, self.port = "127.0.0.1", server.port
        self.sessions = [csrf_session(server.url) for _ in range(attackers)]
        self.many_addresses = many_addresses
        self.addresses = itertools.count(1)
        self.statuses: Counter[int] = Counter()
        self.lock = threading.Lock()

    def source(self) -> tuple[str, int] | None:
        if not self.many_addresses:
            return None
        with self.lock:
            n = next(self.addresses)
        return (f"127.1.{n // 250 % 250}.{n % 250 + 1}", 0)

    def attack(self, cookie: str, token: str, until: float) -> None:
        while time.monotonic() < until:
            body = json.dumps({"username": f"u-{uuid.uuid4().hex}", "password": "not-it-at-all"})
            conn = http.client.HTTPConnection(
                self.host, self.port, timeout=60, source_address=self.source()
            )
            try:
                conn.request(
                    "POST",
                    f"{API}/auth/login",
                    body=body,
                    headers={
                        "Content-Type": "application/json",
                        "Cookie": f"gnomon_session={cookie}",
                        "X-CSRFToken": token,
                    },
                )
                response = conn.getresponse()
                response.read()
                status = response.status
            except OSError:
                status = 0  # refused or reset: counted, not fatal
            finally:
                conn.close()
            with self.lock:
                self.statuses[status] += 1

    def run(self, seconds: float) -> tuple[list[float], Counter[int]]:
        until = time.monotonic() + seconds
        threads = [
            threading.Thread(target=self.attack, args=(cookie, token, until), daemon=True)
            for cookie, token in self.sessions
        ]
        for thread in threads:
            thread.start()
        time.sleep(min(1.0, seconds / 5))  # the flood is on before the first probe
        latencies = probe(self.host, self.port, until)
        for thread in threads:
            thread.join(120)
        return latencies, self.statuses


def measure(name: str, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One server's idle probes and its floods."""
    directory = workdir / f"{name}-{uuid.uuid4().hex[:6]}"
    directory.mkdir()
    config = write_gnomon_config(
        directory / "gnomon.toml",
        f"sqlite:///{directory / 'gnomon.db'}",
        [],
        extra=SERVERS[name],
    )
    server = gnomon_serve(config, directory / "serve.log").wait_ready()
    try:
        wait_quiet(server.proc.pid)
        idle = probe("127.0.0.1", server.port, time.monotonic() + args.idle_seconds)
        result: dict[str, Any] = {"idle": idle}
        for flood in FLOODS:
            wait_quiet(server.proc.pid)
            cpu = cpu_seconds(server.proc.pid)
            attack = Flood(server, args.attackers, many_addresses=flood == "many-addresses")
            latencies, statuses = attack.run(args.seconds)
            result[flood] = {
                "latencies": latencies,
                "statuses": dict(sorted(statuses.items())),
                "server_cpu_s": cpu_seconds(server.proc.pid) - cpu,
            }
        return result
    finally:
        server.stop()


def median_ms(values: list[float]) -> float | None:
    return rounded(statistics.median(values) * 1000) if values else None


def summarise(samples: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Medians over the repeats of each repeat's median, per server and flood."""
    servers: dict[str, Any] = {}
    for name, repeats in samples.items():
        row: dict[str, Any] = {
            "idle_healthz_median_ms": median_ms([median(r["idle"]) for r in repeats]),
        }
        for flood in FLOODS:
            runs = [r[flood] for r in repeats]
            row[flood] = {
                "healthz_median_ms": median_ms([median(run["latencies"]) for run in runs]),
                "healthz_p90_ms": rounded(
                    statistics.median(
                        [percentile90(run["latencies"]) * 1000 for run in runs if run["latencies"]]
                    )
                ),
                "healthz_probes": [len(run["latencies"]) for run in runs],
                "healthz_medians_ms": [median_ms(run["latencies"]) for run in runs],
                "login_answers": [run["statuses"] for run in runs],
                "server_cpu_s": [round(run["server_cpu_s"], 2) for run in runs],
            }
        servers[name] = row
    ratios = {
        flood: rounded(
            servers["before"][flood]["healthz_median_ms"]
            / servers["after"][flood]["healthz_median_ms"]
        )
        for flood in FLOODS
        if servers["before"][flood]["healthz_median_ms"]
        and servers["after"][flood]["healthz_median_ms"]
    }
    return {"servers": servers, "healthz_median_ratio_before_over_after": ratios}


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attackers", type=int, default=16, help="concurrent login senders")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each flood")
    parser.add_argument("--idle-seconds", type=float, default=2.0, help="idle probing per server")
    parser.add_argument("--repeats", type=int, default=2, help="servers of each kind, in turn")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in SERVERS}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gnomon-login-flood-") as workdir:
        for _ in range(args.repeats):
            for name in SERVERS:
                samples[name].append(measure(name, Path(workdir), args))
    result = {
        "attackers": args.attackers,
        "flood_seconds": args.seconds,
        "repeats": args.repeats,
        "elapsed_s": round(time.monotonic() - started, 1),
        **summarise(samples),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
