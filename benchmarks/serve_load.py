"""The server under load: concurrent clients on loopback mixing searches and authorised writes.

    pip install -e ".[server,test]"
    python benchmarks/serve_load.py [--documents 100000] [--clients 16] [--seconds 20] [--write-share 0.05]

Builds a SQLite index of 20NG and Reuters texts topped up with word-resampled copies (as speed.py
does), times ``Searcher.search`` in process on short queries (the test posts' Subject lines), then
starts ``hashsearch serve`` in a child process on 127.0.0.1 and runs ``--clients`` threads, each with
its own keep-alive connection: first searches only for half of ``--seconds``, then for ``--seconds``
a mix where each request is a ``GET /search`` or, with probability ``--write-share``, a
``POST /documents`` of one new document. It stops by itself. Where Debian's wrk is installed
(``apt-get install wrk``), it first measures searches with wrk too: a client in C, which takes less
of the two cores from the server than the Python clients do. Then
every written document must be readable and found by its own text. Writes the serve-load section
of RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import httpx
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.datasets import DEFAULT_DIR, load_text, title  # noqa: E402
from benchmarks.quality import write_section  # noqa: E402
from benchmarks.speed import cpu_model, latencies_ms, synthetic_texts  # noqa: E402
from hashsearch import Searcher  # noqa: E402

TOKEN = "load-test-token"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_clients(url: str, queries: list[str], clients: int, seconds: float, write_share: float) -> dict:
    """``clients`` threads until the deadline; returns latencies, failures and the ids written."""
    deadline = time.monotonic() + seconds
    lock = threading.Lock()
    results = {"search_ms": [], "write_ms": [], "failures": [], "written": []}

    def client(number: int) -> None:
        rng = random.Random(number)
        with httpx.Client(base_url=url, timeout=60) as http:
            count = 0
            while time.monotonic() < deadline:
                count += 1
                started = time.perf_counter()
                if rng.random() < write_share:
                    doc_id = f"written-{number}-{count}"
                    text = f"{rng.choice(queries)} {rng.choice(queries)}"
                    response = http.post("/documents", json=[{"id": doc_id, "text": text}],
                                         headers={"Authorization": f"Bearer {TOKEN}"})
                    kind = "write_ms"
                else:
                    response = http.get("/search", params={"q": rng.choice(queries), "k": 10})
                    kind, doc_id, text = "search_ms", None, None
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    if response.status_code != 200:
                        results["failures"].append(f"{response.status_code} {response.text[:200]}")
                    else:
                        results[kind].append(elapsed)
                        if doc_id:
                            results["written"].append((doc_id, text))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results["seconds"] = time.perf_counter() - started
    return results


def run_wrk(url: str, queries: list[str], connections: int, seconds: float, folder: Path) -> dict[str, float]:
    """p50 and p99 latency (ms) and requests per second of Debian's wrk (a C client, which costs the
    server's cores little) cycling through ``GET /search`` of the queries."""
    script = folder / "queries.lua"
    paths = ",\n".join(json.dumps("/search?" + urllib.parse.urlencode({"q": q, "k": 10})) for q in queries)
    script.write_text(f"paths = {{\n{paths}\n}}\ncounter = 0\nrequest = function()\n"
                      "  counter = counter + 1\n  return wrk.format(nil, paths[(counter % #paths) + 1])\nend\n")
    output = subprocess.run(["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds:.0f}s", "--latency",
                             "-s", str(script), url], capture_output=True, text=True, check=True).stdout
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}

    def latency(percent: str) -> float:
        value, unit = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)$", output, re.M).groups()
        return float(value) * scale[unit]

    return {"p50": latency("50"), "p99": latency("99"),
            "per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))}


def measure_server(db: Path, workers: int, queries: list[str], in_process: np.ndarray, args) -> dict[str, str]:
    """Start ``hashsearch serve``, time one client, then many; check every write landed."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    has_wrk = shutil.which("wrk") is not None
    server = subprocess.Popen([sys.executable, "-m", "hashsearch", "serve", "--db", str(db), "--port", str(port),
                               "--token", TOKEN, "--workers", str(workers)], stderr=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        time.sleep(2)  # every worker up
        with httpx.Client(base_url=url) as http:  # one client alone: the server's own cost per search
            http.get("/search", params={"q": queries[0]})
            alone = latencies_ms(lambda q: http.get("/search", params={"q": q, "k": 10}), queries)
        if has_wrk:
            with tempfile.TemporaryDirectory() as folder:
                wrk_one = run_wrk(url, queries, 1, 10, Path(folder))
                wrk_many = run_wrk(url, queries, args.clients, args.seconds / 2, Path(folder))
        only = run_clients(url, queries, args.clients, args.seconds / 2, 0.0)
        load = run_clients(url, queries, args.clients, args.seconds, args.write_share)
        time.sleep(6)  # other workers refresh
        with httpx.Client(base_url=url, timeout=60) as http:
            missing = [i for i, _ in load["written"] if http.get(f"/documents/{i}").status_code != 200]
            unfound = [i for i, text in load["written"]
                       if i not in {h["id"] for h in http.get("/search", params={"q": text, "k": 10}).json()["hits"]}]
    finally:
        server.terminate()
        server.wait(30)
    searches, writes = np.asarray(load["search_ms"]), np.asarray(load["write_ms"])
    failures = load["failures"] + only["failures"]
    wrk_rows = {} if not has_wrk else {
        "wrk, one connection: p50 ms": f"{wrk_one['p50']:.3f}",
        "wrk: server's cost over in process (p50 - median), ms": f"{wrk_one['p50'] - np.median(in_process):.3f}",
        f"wrk, {args.clients} connections: searches per second": f"{wrk_many['per_second']:,.0f}",
        f"wrk, {args.clients} connections: p50 / p99 ms": f"{wrk_many['p50']:.2f} / {wrk_many['p99']:.2f}",
    }
    return {
        **wrk_rows,
        "one client, `GET /search`, median ms": f"{np.median(alone):.3f}",
        "server's cost over in process (medians), ms": f"{np.median(alone) - np.median(in_process):.3f}",
        f"{args.clients} clients, searches only: searches per second":
            f"{len(only['search_ms']) / only['seconds']:,.0f}",
        "searches only: latency p50 / p99 ms": f"{np.median(only['search_ms']):.2f} / "
                                               f"{np.percentile(only['search_ms'], 99):.2f}",
        f"{args.clients} clients, {args.write_share:.0%} writes, {args.seconds:.0f} s: searches per second":
            f"{len(searches) / load['seconds']:,.0f}",
        "with writes: search latency p50 / p99 ms": f"{np.median(searches):.2f} / {np.percentile(searches, 99):.2f}",
        "writes (one document each)": f"{len(writes):,}",
        "write latency p50 / p99 ms": (f"{np.median(writes):.0f} / {np.percentile(writes, 99):.0f}"
                                       if len(writes) else "none"),
        "failed requests": str(len(failures)) + (f" ({failures[0]})" if failures else ""),
        "written documents not readable afterwards": str(len(missing)),
        "written documents not found by their own text": str(len(unfound)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--write-share", type=float, default=0.05)
    parser.add_argument("--workers", default="1,2", help="server processes to measure, e.g. 1,2")
    parser.add_argument("--section", default="serve-load")
    args = parser.parse_args()
    ng_train, ng_test = load_text("20ng", args.data_dir)
    rt_train, rt_test = load_text("reuters", args.data_dir)
    real = ng_train.texts + rt_train.texts + rt_test.texts + ng_test.texts[1000:]
    texts = real[:args.documents] + synthetic_texts(real, max(0, args.documents - len(real)), seed=args.documents)
    queries = [title(t) or " ".join(t.split()[:5]) for t in ng_test.texts[:1000]]
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "load.db"
        torch.set_num_threads(2)
        Searcher.build([{"id": f"doc-{i}", "text": t} for i, t in enumerate(texts)], db, seed=0).close()
        torch.set_num_threads(1)
        with Searcher.open(db) as searcher:
            searcher.search(queries[0])
            in_process = latencies_ms(lambda q: searcher.search(q, k=10), queries)
        rows = {}
        for workers in [int(w) for w in args.workers.split(",")]:
            rows[workers] = measure_server(db, workers, queries, in_process, args)
    commit = os.popen("git rev-parse --short HEAD 2>/dev/null").read().strip() or "unknown"
    names = list(next(iter(rows.values())))
    section = "\n".join([
        "## The server under load", "",
        f"`python {' '.join(sys.argv)}`; commit {commit}, date {time.strftime('%Y-%m-%d')}, CPU {cpu_model()}. "
        f"{args.documents:,} documents (SQLite), 64-bit codes; queries: 1,000 20NG test Subject lines, k=10, "
        "default ranking; server and clients on one machine (loopback), clients with keep-alive connections; "
        f"`Searcher.search` in process: median {np.median(in_process):.3f} ms.", "",
        "| measure | " + " | ".join(f"`serve --workers {w}`" for w in rows) + " |", "|---|" + "---|" * len(rows),
        *[f"| {name} | " + " | ".join(row[name] for row in rows.values()) + " |" for name in names],
    ])
    print(section)
    write_section(args.section, section)


if __name__ == "__main__":
    main()
