"""Speed and scale: query latency, lookup against a FAISS flat scan, bm25s, build throughput, memory.

    pip install -e ".[bench]"      # bm25s, the benchmark-only peer
    python benchmarks/speed.py [--sizes 10000,100000,1000000] [--lookup-sizes 10000,100000,1000000]

Corpora: the 20 Newsgroups and Reuters texts (train and test, 29,635 documents), topped up with
synthetic documents that resample the words of a random real document (same length, words drawn with
replacement), so vocabulary and topic mixture stay realistic. Queries: 1,000 20NG test posts, k=10,
and their Subject lines as short queries; each query's steps are also timed one by one
(``benchmarks/query_profile.py``).

End to end (``--sizes``): ``Searcher.build`` on a SQLite file, then single queries (median, p99, queries
per second), single queries without snippets (ranked ids only, what bm25s answers with), ``search_many``
batches of 100, and 2 threads sharing one Searcher; bm25s on the same texts in the same run; then
filters, ``similar`` and ``get``. These passes run with the database file in the page cache (read
through right before them); a last one repeats whole posts, Subject lines, ``similar`` and ``get``
with the file dropped from the page cache, every page read from disk. Lookup
only (``--lookup-sizes``): codes made by the largest end-to-end model from resampled TF-IDF rows;
``CodeIndex.search`` (exact bucket, then radius 2, then scan) against FAISS ``IndexBinaryFlat.search``
on the same codes. Writes the speed section of RESULTS.md.
"""
from __future__ import annotations

import argparse
import ctypes
import mmap
import os
import platform
import random
import resource
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import faiss
import numpy as np
import scipy.sparse as sp
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.datasets import DEFAULT_DIR, load_text, title  # noqa: E402
from benchmarks.quality import write_section  # noqa: E402
from benchmarks.query_profile import STEPS, step_times  # noqa: E402
from hashsearch import Searcher  # noqa: E402
from hashsearch.index import codes as codelib  # noqa: E402
from hashsearch.index.code_index import CodeIndex  # noqa: E402

K = 10
BITS = 64


def cpu_model() -> str:
    """The processor, its cache and core count: ratios against bm25s differ from machine to machine."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    info = {key.strip(): value.strip() for key, _, value in (line.partition(":") for line in lines)}
    cache = f", {info['cache size']} cache" if "cache size" in info else ""
    return f"{info.get('model name', platform.processor() or platform.machine())}{cache}, {os.cpu_count()} cores"


def latencies_ms(function, items) -> np.ndarray:
    out = []
    for item in items:
        started = time.perf_counter()
        function(item)
        out.append((time.perf_counter() - started) * 1000)
    return np.asarray(out)


def summary(ms: np.ndarray) -> str:
    return f"{np.median(ms):.3f} | {np.percentile(ms, 99):.3f} | {1000 / ms.mean():,.0f}"


FILTERS = {"10%": {"bucket": {"$lt": 100}}, "1%": {"bucket": {"$lt": 10}}, "0.1%": {"bucket": 0}}
APPLICATION_COLUMNS = tuple(f"filter {share}{mode}" for share in FILTERS for mode in ("", " hamming")) + (
    "similar", "similar hamming", "get 10 ids")
COLD_COLUMNS = ("whole posts", "Subject lines", "similar", "get 10 ids")


def application_row(backend: str, size: int, in_cache: str, searcher: Searcher, queries: list[str]) -> str:
    """Filtered searches (both modes), more like this and get, timed one call at a time, each call's
    documents asked for the first time in the pass (1,000 random ids)."""
    cells = []
    for where in FILTERS.values():
        for mode in ("hybrid", "hamming"):
            cells.append(np.median(latencies_ms(lambda q: searcher.search(q, k=K, where=where, mode=mode), queries)))
    ids = random_ids(searcher, len(queries), seed=0)
    for mode in ("hybrid", "hamming"):
        cells.append(np.median(latencies_ms(lambda i: searcher.similar(i, k=K, mode=mode), ids)))
    cells.append(np.median(latencies_ms(searcher.get, [ids[i:i + 10] for i in range(0, len(ids), 10)])))
    return f"| {backend} | {size:,} | {in_cache} | " + " | ".join(f"{c:.3f}" for c in cells) + " |"


def random_ids(searcher: Searcher, n: int, seed: int) -> list[str]:
    return list(searcher._snapshot.main.ids[np.random.default_rng(seed).integers(0, len(searcher), n)])


def cold_row(size: int, db: Path, ids: list[str], queries: list[str], short_queries: list[str]) -> str:
    """The same calls with the database's pages read from disk: each pass on a searcher opened after
    the file was dropped from the page cache (``drop_from_page_cache``) and no other searcher has it
    open (a process that maps a page keeps it cached)."""
    cells, in_cache = [], 0.0
    for function, items in (("search", queries), ("search", short_queries), ("similar", ids),
                            ("get", [ids[i:i + 10] for i in range(0, len(ids), 10)])):
        drop_from_page_cache(db)
        in_cache = max(in_cache, page_cache_share(db))
        with Searcher.open(db) as searcher:
            cells.append(np.median(latencies_ms(getattr(searcher, function), items)))
    return f"| SQLite | {size:,} | {in_cache:.0%} | " + " | ".join(f"{c:.3f}" for c in cells) + " |"


def cached(path: Path) -> str:
    """Read a file through, so that the page cache holds it (as on a machine whose memory holds the
    database), and say what share of it the page cache then holds. Right before each timed pass: this
    machine's kernel drops file pages no process maps after about a minute untouched (DAMON pageout)."""
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass
    return f"{page_cache_share(path):.0%}"


def drop_from_page_cache(path: Path) -> None:
    """Ask the kernel to drop the file's cached pages (those no process maps), so reads go to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def page_cache_share(path: Path) -> float:
    """The share of the file's pages in the page cache (mincore on a mapping of it; Linux)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype, libc.mmap.argtypes = ctypes.c_void_p, (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                                                             ctypes.c_int, ctypes.c_int, ctypes.c_long)
    libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
    libc.mincore.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)
    size, page = path.stat().st_size, os.sysconf("SC_PAGE_SIZE")
    fd = os.open(path, os.O_RDONLY)
    try:
        address = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if address in (None, ctypes.c_void_p(-1).value):
            return float("nan")
        resident = (ctypes.c_ubyte * (-(-size // page)))()
        libc.mincore(ctypes.c_void_p(address), size, resident)
        libc.munmap(ctypes.c_void_p(address), size)
    finally:
        os.close(fd)
    return float(np.mean(np.frombuffer(resident, dtype=np.uint8) & 1))


def snapshot_bytes(searcher: Searcher) -> int:
    """What one open index holds per document for searching (see the footprint table's note)."""
    snapshot = searcher._snapshot.main  # just opened: everything is in the main segment
    return (snapshot.index.nbytes + snapshot.sketches.nbytes + snapshot.words.nbytes + snapshot.keys.nbytes
            + snapshot.columns.nbytes + 4 * len(snapshot.ids) + snapshot.ids.nbytes)


def synthetic_texts(texts: list[str], n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    tokenised = [t.split() for t in texts]
    out = []
    for _ in range(n):
        words = tokenised[rng.randrange(len(tokenised))] or ["empty"]
        out.append(" ".join(rng.choices(words, k=len(words))))
    return out


def resampled_rows(X: sp.csr_matrix, n: int, seed: int) -> sp.csr_matrix:
    """n rows, each a real row's terms drawn with replacement in proportion to their weight."""
    rng = np.random.default_rng(seed)
    sources = rng.integers(0, X.shape[0], n)
    rows, cols = [], []
    for i, source in enumerate(sources):
        start, stop = X.indptr[source], X.indptr[source + 1]
        if stop == start:
            continue
        weights = X.data[start:stop] / X.data[start:stop].sum()
        drawn = rng.choice(X.indices[start:stop], size=stop - start, p=weights)
        rows.append(np.full(len(drawn), i))
        cols.append(drawn)
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    counts = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n, X.shape[1]))
    counts.sum_duplicates()
    norms = np.sqrt(np.asarray(counts.multiply(counts).sum(axis=1)))
    norms[norms == 0] = 1  # a row drawn from an empty document stays empty
    return sp.csr_matrix(counts.multiply(1 / norms).astype(np.float32))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--lookup-sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--postgres", default=None,
                        help="also run the end-to-end part at the first size on this PostgreSQL URL "
                             "(any index there is replaced)")
    parser.add_argument("--section", default="speed", help="which section of RESULTS.md to (re)write")
    parser.add_argument("--title", default="Speed and scale")
    args = parser.parse_args()
    import bm25s

    torch.set_num_threads(1)  # one core per query path; the 2-thread rows add the second core
    # FAISS's OpenMP threads stall single-query scans when the cores are busy (median unchanged, mean 20x).
    faiss.omp_set_num_threads(1)
    ng_train, ng_test = load_text("20ng", args.data_dir)
    rt_train, rt_test = load_text("reuters", args.data_dir)
    real = ng_train.texts + rt_train.texts + rt_test.texts + ng_test.texts[args.queries:]
    queries = ng_test.texts[:args.queries]
    short_queries = [title(q) or " ".join(q.split()[:5]) for q in queries]  # Subject lines: a median 5 words
    end_to_end, steps, builds, lookups, applications, colds = [], [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        sizes = sorted(int(s) for s in args.sizes.split(","))
        runs = [("PostgreSQL", sizes[0])] if args.postgres else []
        runs += [("SQLite", size) for size in sizes]  # the largest last: its model encodes the lookup codes
        for backend, size in runs:
            texts = real[:size] + synthetic_texts(real, max(0, size - len(real)), seed=size)
            # Two filterable fields: a number that selects 10%, 1% or 0.1% of the documents, and a string.
            docs = [{"id": f"doc-{i}", "text": t, "bucket": i * 7919 % 1000, "lang": ("en", "de", "fr")[i % 3]}
                    for i, t in enumerate(texts)]
            db = Path(tmp) / f"speed-{size}.db" if backend == "SQLite" else args.postgres
            torch.set_num_threads(2)
            searcher = Searcher.build(docs, db, bits=BITS)
            torch.set_num_threads(1)
            report = searcher.last_change
            searcher.close()
            started = time.perf_counter()
            searcher = Searcher.open(db)
            open_seconds = time.perf_counter() - started
            main = searcher._snapshot.main
            stages = report.stage_seconds
            disk = f"{db.stat().st_size / size:,.0f}" if backend == "SQLite" else "n/a"
            builds.append(f"| {backend} | {size:,} | " + " | ".join(f"{size / stages[s]:,.0f}" for s in
                                                      ("reading", "vectorizing", "training", "encoding", "storing"))
                          + f" | {report.seconds:.0f} | {open_seconds:.2f} | "
                          f"{main.index.nbytes / size:.1f} | "
                          f"{(main.index.nbytes + main.words.nbytes) / size:.1f} | "
                          f"{snapshot_bytes(searcher) / size:.1f} | {disk} |")
            in_cache = cached(db) if backend == "SQLite" else "n/a"
            searcher.search(queries[0])
            single = latencies_ms(lambda q: searcher.search(q, k=K), queries)
            single_short = latencies_ms(lambda q: searcher.search(q, k=K), short_queries)
            no_snippets = latencies_ms(lambda q: searcher.search(q, k=K, snippets=False), queries)
            hamming = latencies_ms(lambda q: searcher.search(q, k=K, mode="hamming"), queries)
            hamming_short = latencies_ms(lambda q: searcher.search(q, k=K, mode="hamming"), short_queries)
            batches = [queries[i:i + 100] for i in range(0, len(queries), 100)]
            batch_ms = latencies_ms(lambda b: searcher.search_many(b, k=K), batches) / 100
            with ThreadPoolExecutor(2) as pool:
                started = time.perf_counter()
                list(pool.map(lambda q: searcher.search(q, k=K), queries))
                two_thread_qps = len(queries) / (time.perf_counter() - started)
            retriever = bm25s.BM25()
            retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
            def bm25_search(query: str) -> None:
                tokens = bm25s.tokenize([query], stopwords="en", show_progress=False)
                retriever.retrieve(tokens, k=K, show_progress=False)

            bm25_ms = latencies_ms(bm25_search, queries)
            bm25_short_ms = latencies_ms(bm25_search, short_queries)
            end_to_end.append(f"| {backend} | {size:,} | {in_cache} | {summary(single)} | {np.median(batch_ms):.3f} | "
                              f"{two_thread_qps:,.0f} | "
                              f"{summary(bm25_ms)} | {np.median(bm25_ms) / np.median(single):.1f}x | "
                              f"{np.median(no_snippets):.3f} | {np.median(bm25_ms) / np.median(no_snippets):.1f}x | "
                              f"{np.median(single_short):.3f} | {np.median(bm25_short_ms):.3f} | "
                              f"{np.median(bm25_short_ms) / np.median(single_short):.1f}x | "
                              f"{np.median(hamming):.3f} | {np.median(hamming_short):.3f} |")
            print(end_to_end[-1], flush=True)
            medians = {step: np.median(ms) for step, ms in step_times(searcher, queries).items()}
            steps.append(f"| {backend} | {size:,} | " + " | ".join(f"{medians[step]:.3f}" for step in STEPS) + " |")
            in_cache = cached(db) if backend == "SQLite" else "n/a"
            applications.append(application_row(backend, size, in_cache, searcher, queries))
            print(applications[-1], flush=True)
            print(steps[-1], flush=True)
            cold_ids = random_ids(searcher, len(queries), seed=1)
            snapshot = searcher._snapshot  # the largest index's model encodes the lookup part's codes
            searcher.close()
            if backend == "SQLite":
                colds.append(cold_row(size, db, cold_ids, queries, short_queries))
                print(colds[-1], flush=True)
        X_real = snapshot.features.transform(real)
        query_codes = snapshot.hasher.encode(snapshot.features.transform(queries))
        radius = codelib.default_radius(BITS)
        for size in [int(s) for s in args.lookup_sizes.split(",")]:
            X = X_real[:size] if size <= X_real.shape[0] else sp.vstack(
                [X_real, resampled_rows(X_real, size - X_real.shape[0], seed=size)]).tocsr()
            codes = snapshot.hasher.encode(X)
            started = time.perf_counter()
            index = CodeIndex(codes, BITS)
            build_seconds = time.perf_counter() - started
            flat = faiss.IndexBinaryFlat(BITS)
            flat.add(codes)
            ours = latencies_ms(lambda c: index.search(c, K, radius), query_codes)
            theirs = latencies_ms(lambda c: flat.search(c[None], K), query_codes)
            in_ball = np.mean([index.search(c, K, radius)[1][-1] <= radius for c in query_codes])
            lookups.append(f"| {size:,} | {summary(ours)} | {summary(theirs)} | "
                           f"{np.median(theirs) / np.median(ours):.1f}x | {in_ball:.0%} | {index.n_buckets:,} | "
                           f"{index.largest_bucket:,} | {build_seconds:.2f} | {index.nbytes / size:.1f} |")
            print(lookups[-1], flush=True)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
    lines = [
        f"## {args.title}", "", f"Command: `python {' '.join(sys.argv)}`  ",
        f"{BITS}-bit codes, k={K}, {args.queries} 20NG test posts as queries; query paths on 1 torch thread, "
        "builds on 2; "
        f"torch {torch.__version__}, faiss {faiss.__version__}, numpy {np.__version__}, "
        f"bm25s {bm25s.__version__}; CPU {cpu_model()}; date {time.strftime('%Y-%m-%d')}; commit "
        f"{os.popen('git rev-parse --short HEAD 2>/dev/null').read().strip() or 'unknown'}. "
        f"Peak memory of the whole run: {peak_gb:.1f} GB.", "",
        "### End to end (query text to hits with snippets), the database in the page cache", "",
        "| database | documents | database in the page cache | single query median ms | p99 ms | queries/s | "
        "search_many ms/query | 2 threads queries/s | bm25s median ms | p99 ms | queries/s | "
        "bm25s / hashsearch (medians) | without snippets: hashsearch median ms | bm25s / hashsearch | "
        "short queries: hashsearch median ms | bm25s median ms | bm25s / hashsearch | "
        "`mode=\"hamming\"`: median ms | short queries median ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|", *end_to_end, "",
        "hashsearch columns are the default ranking (words and code; a document-sized query's code and "
        "sketch) unless headed `mode=\"hamming\"`. "
        "Queries: whole 20NG test posts; short queries: their Subject lines without \"Re:\" (a median 5 "
        "words). Without snippets: `search(text, snippets=False)`, ranked ids only, the job bm25s does "
        "here (it returns document numbers). The database file is read through right before these passes "
        "(and before those of the filters table), so that the page cache holds it, as on a machine whose "
        "memory holds the database; the column gives the share of its pages in the page cache then "
        "(mincore).", "",
        "### Where a single query's time goes (medians, ms; each step timed alone, then whole searches in a "
        "pass of their own)", "",
        "| database | documents | " + " | ".join(STEPS) + " |", "|---|---|" + "---|" * len(STEPS), *steps, "",
        "### Filters, more like this, documents by id (medians, ms, snippets included; the database in the "
        "page cache)", "",
        "| database | documents | database in the page cache | " + " | ".join(APPLICATION_COLUMNS) + " |",
        "|---|---|---|" + "---|" * len(APPLICATION_COLUMNS), *applications, "",
        "Filters on `bucket` (a number field): `{\"$lt\": 100}` matches 10% of the documents, `{\"$lt\": 10}` "
        "1%, `{\"$eq\": 0}` 0.1%; whole posts as queries. `similar`: 1,000 random ids; `get`: 100 calls of 10 "
        "random ids; each asked once in the pass.", "",
        "### From disk: the database dropped from the page cache (medians, ms, snippets included)", "",
        "| database | documents | database in the page cache after the drop | " + " | ".join(COLD_COLUMNS) + " |",
        "|---|---|---|" + "---|" * len(COLD_COLUMNS), *colds, "",
        "Each pass runs on a searcher opened after `posix_fadvise(POSIX_FADV_DONTNEED)` dropped the "
        "database file's pages from the page cache (opening reads the saved index back, so those pages "
        "return): every snippet, text and B-tree page a call needs is read from disk the first time. "
        "Whole posts and Subject lines: the 1,000 queries above; `similar` and `get`: 1,000 other random ids.", "",
        "### Build (documents per second by stage) and footprint", "",
        "| database | documents | reading | vectorizing | training | encoding | storing | build s | open s | "
        "code index bytes/doc | code and word index bytes/doc | everything a search reads, bytes/doc | "
        "database bytes/doc |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|", *builds, "",
        "Everything a search reads: the code index, the word sketches, the word index, the sorted id hashes, "
        "the metadata columns, one thread's score array and the ids themselves (their UTF-8 bytes and where "
        "each ends); the vocabulary "
        "and the model (a few MB, whatever the size) not counted.",
        "",
        "Training uses a sample of at most 30,000 documents (`max_train_documents`), so its rate grows with size.", "",
        "### Code lookup alone (code to rows) against a FAISS flat scan of the same codes", "",
        f"| documents | hashsearch median ms | p99 ms | queries/s | FAISS IndexBinaryFlat median ms | p99 ms | "
        f"queries/s | speed-up (medians) | answered inside radius {radius} | distinct codes | largest bucket | "
        "index build s | bytes/doc |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|", *lookups, "",
    ]
    section = "\n".join(lines)
    print(section)
    write_section(args.section, section)


if __name__ == "__main__":
    main()
