"""The first minutes of a new user: how long `hashsearch index` takes on the sample, 20NG and Reuters,
and how long each command takes from process start to exit, beside `python -c pass`, in one run.

    python benchmarks/first_minutes.py [--data-dir ../shared/datasets] [--repeats 5]

Every figure is the wall time of a fresh process (`hashsearch` is the installed console script), so
import time is in it, as a user meets it. Indexing: one cold run each (a new database), the sample as
its folder, 20NG's and Reuters' train splits as .jsonl files written first. Commands: the median of
``--repeats`` runs against the 20NG index (`remove` of an id that is not there: the full path of a
write, nothing changed). Writes the first-minutes section of RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.datasets import DEFAULT_DIR, load_text  # noqa: E402
from benchmarks.quality import write_section  # noqa: E402
from benchmarks.speed import cpu_model  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
GOALS = {"sample": 5.0, "20ng": 45.0}
COMMAND_GOALS = {"query": 0.5, "get": 0.4, "info": 0.4, "remove": 0.4}


def wall(command: list[str], cwd: Path) -> float:
    """Seconds from start to exit of one process running ``command`` (it must succeed)."""
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def goal(goals: dict[str, float], name: str) -> str:
    return f"<= {goals[name]}" if name in goals else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--section", default="first-minutes")
    args = parser.parse_args()
    beside = Path(sys.executable).parent / "hashsearch"  # this environment's console script, then PATH's
    hashsearch = str(beside) if beside.exists() else shutil.which("hashsearch") or "hashsearch"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sources = {"sample": SAMPLE}
        for corpus in ("20ng", "reuters"):
            train, _ = load_text(corpus, args.data_dir)
            path = folder / f"{corpus}.jsonl"
            path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n"
                                    for i, t in zip(train.ids, train.texts, strict=True)), encoding="utf-8")
            sources[corpus] = path
        indexing = {}
        for name, source in sources.items():
            indexing[name] = wall([hashsearch, "index", str(source), "--db", f"{name}.db", "--quiet"], folder)
            print(f"index {name}: {indexing[name]:.1f} s", flush=True)
        first_id = json.loads((folder / "20ng.jsonl").read_text(encoding="utf-8").split("\n", 1)[0])["id"]
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "hashsearch --help": [hashsearch, "--help"],
            "query": [hashsearch, "query", "rocket launch to the moon", "--db", "20ng.db"],
            "get": [hashsearch, "get", first_id, "--db", "20ng.db"],
            "info": [hashsearch, "info", "--db", "20ng.db"],
            "remove": [hashsearch, "remove", "no-such-id", "--db", "20ng.db"],
        }
        timings = {}
        for name, command in commands.items():
            if name == "remove":  # exits 1 (no such id) by design: time it without the check
                runs = []
                for _ in range(args.repeats):
                    started = time.perf_counter()
                    subprocess.run(command, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    runs.append(time.perf_counter() - started)
            else:
                runs = [wall(command, folder) for _ in range(args.repeats)]
            timings[name] = statistics.median(runs)
            print(f"{name}: {timings[name]:.3f} s", flush=True)
    rows = [f"| {name} | {seconds:.1f} | {goal(GOALS, name)} |" for name, seconds in indexing.items()]
    command_rows = [f"| `{name}` | {seconds:.2f} | {goal(COMMAND_GOALS, name)} |" for name, seconds in timings.items()]
    section = (f"## The first minutes: indexing and command start-up\n\n"
               f"`python benchmarks/first_minutes.py --repeats {args.repeats}`; commit {commit}, date "
               f"{time.strftime('%Y-%m-%d')}, CPU {cpu_model()}.\n\n"
               "Indexing, one cold process each (`hashsearch index SOURCE --quiet`, a new database; default "
               "64-bit codes and training):\n\n| corpus | seconds | goal |\n|---|---|---|\n" + "\n".join(rows)
               + f"\n\nCommands on the 20NG index, from process start to exit (median of {args.repeats}):\n\n"
               "| command | seconds | goal |\n|---|---|---|\n" + "\n".join(command_rows))
    write_section(args.section, section)
    print(section)


if __name__ == "__main__":
    main()
