"""The HTTP service under a bounded load on loopback (not a pytest module).

    .venv/bin/python bench/bench_serve_load.py [--clients 4] [--requests 25] [--backend transformers]
        [--quality draft] [--max-new-tokens 128] [--home DIR]

Deploys the shipped demo base as the active version of a fresh home (embedded PostgreSQL, the real promotion code) —
or uses --home as it is when it already serves a version —, starts `rxt5 serve` as its own process on a free port,
warms it up, then runs `--clients` concurrent clients (threads, urllib, keep-alive off) that each send `--requests`
POST /generate requests, Rust and Elixir prompts alternating. Reports throughput, latency p50/p95/max, the status
codes (every one must be 200), and the server process's RSS after the warm-up, after each quarter of the load and at
the end (flat memory: no growth with requests served). `uptime`'s load is printed: the figures are only comparable
between runs on an equally loaded machine.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROMPTS = [
    ("rust", "Returns the number of entries in the cache"),
    ("elixir", "Create a GenServer for caching with TTL"),
    ("rust", "Parses a duration such as 5s or 10m"),
    ("elixir", "Returns the user with the given id"),
    ("rust", "An enum of the states a connection can be in"),
    ("elixir", "Puts a value under a key with a time to live"),
]


def deploy_demo(home: Path) -> str:
    from rxt5_assets.db import Database
    from rxt5_assets.db.model_versions import ensure_base_version
    from rxt5_assets.evaluation.promotion import deploy, read_deployment
    from rxt5_assets.training.base_model import DEMO_BASE_DIR, demo_base_metadata

    current = read_deployment(home)
    if current is not None:
        return current["version"]
    database = Database(home=home)
    database.migrate()
    with database.connect() as conn:
        version_id = ensure_base_version(conn, base_model="demo", base_model_path=str(DEMO_BASE_DIR),
                                         fingerprint=demo_base_metadata()["fingerprint"])
    return deploy(database, version_id, home=home).version


def post(url: str, body: dict, timeout: float = 300) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--requests", type=int, default=25, help="requests per client")
    parser.add_argument("--backend", default="transformers")
    parser.add_argument("--quality", default="draft")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None, help="the server's torch threads (rxt5 serve --threads)")
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()

    import psutil

    home = args.home or Path(tempfile.mkdtemp(prefix="rxt5-bench-serve-"))
    os.environ["RXT5_HOME"] = str(home)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    version = deploy_demo(home)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
    log_path = home / "bench-serve.log"
    log = log_path.open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "rxt5_assets.cli", "--home", str(home), "serve", "--port", str(port),
         "--backend", args.backend, "--max-queue", str(args.clients), "--timeout", "600", "--log-level", "warning",
         *(["--threads", str(args.threads)] if args.threads else [])],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    process = psutil.Process(server.pid)
    try:
        started = time.monotonic()
        while True:
            if server.poll() is not None:
                raise SystemExit(f"rxt5 serve exited: {log_path.read_text()}")
            try:
                with urllib.request.urlopen(url + "/health", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            time.sleep(0.2)
        startup_s = time.monotonic() - started
        with urllib.request.urlopen(url + "/version") as response:
            served = json.loads(response.read())

        def body(i: int) -> dict:
            language, prompt = PROMPTS[i % len(PROMPTS)]
            return {"prompt": prompt, "language": language, "quality": args.quality, "seed": i,
                    "params": {"max_new_tokens": args.max_new_tokens}}

        for i in range(len(PROMPTS)):  # warm-up: every prompt once
            status, _ = post(url + "/generate", body(i))
            assert status == 200, status
        rss = {"after warm-up": process.memory_info().rss}

        total = args.clients * args.requests
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        lock = threading.Lock()
        done = [0]
        quarter_marks = {total * q // 4: f"after {q}/4" for q in (1, 2, 3)}
        peak = [rss["after warm-up"]]

        def client(c: int) -> None:
            for r in range(args.requests):
                t0 = time.perf_counter()
                status, answer = post(url + "/generate", body(c * args.requests + r))
                elapsed = time.perf_counter() - t0
                with lock:
                    latencies.append(elapsed)
                    statuses[status] = statuses.get(status, 0) + 1
                    done[0] += 1
                    mark = quarter_marks.get(done[0])
                    now = process.memory_info().rss
                    peak[0] = max(peak[0], now)
                    if mark:
                        rss[mark] = now

        load = uptime()
        t0 = time.perf_counter()
        threads = [threading.Thread(target=client, args=(c,)) for c in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        rss["end"] = process.memory_info().rss
        latencies.sort()
        figures = {
            "version": version, "backend": served.get("backend"), "quality": args.quality,
            "max_new_tokens": args.max_new_tokens, "threads": args.threads, "clients": args.clients, "requests": total,
            "startup_s": round(startup_s, 2), "wall_s": round(wall, 2),
            "throughput_rps": round(total / wall, 3),
            "p50_s": round(statistics.median(latencies), 3),
            "p95_s": round(latencies[max(0, int(round(0.95 * len(latencies))) - 1)], 3),
            "max_s": round(latencies[-1], 3), "statuses": statuses,
            "errors": sum(n for s, n in statuses.items() if s != 200),
            "rss_mb": {k: round(v / 2**20, 1) for k, v in rss.items()}, "rss_peak_mb": round(peak[0] / 2**20, 1),
            "rss_growth_mb": round((rss["end"] - rss["after warm-up"]) / 2**20, 1),
            "load_before": load, "load_after": uptime(),
        }
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    print(json.dumps(figures, indent=2))
    print(f"\n| clients | requests | backend | throughput (req/s) | p50 s | p95 s | max s | errors | "
          f"RSS after warm-up → end (peak) MB |\n|---:|---:|---|---:|---:|---:|---:|---:|---|\n"
          f"| {args.clients} | {total} | "
          f"{figures['backend']} ({args.quality}, {args.max_new_tokens} tokens) | {figures['throughput_rps']} | "
          f"{figures['p50_s']} | {figures['p95_s']} | {figures['max_s']} | {figures['errors']} | "
          f"{figures['rss_mb']['after warm-up']} → {figures['rss_mb']['end']} ({figures['rss_peak_mb']}) |")
    print(f"load average: {figures['load_before']} (before), {figures['load_after']} (after)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if figures["errors"] == 0 else 1


def uptime() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
