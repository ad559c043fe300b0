"""Rebuild data/sample/ from the shared 20 Newsgroups corpus (run from the repo root).

    python data/make_sample.py ../shared/datasets/20news.jsonl.gz

Takes the first 50 training posts of 8 newsgroups, keeps the Subject line and the body (the other
headers leak the label), caps each post at 3,000 characters and writes one .txt file per post, and
metadata.jsonl beside them: each file's newsgroup as ``topic`` and its number of words as ``words``.
"""
import gzip
import json
import sys
from pathlib import Path

GROUPS = [
    "comp.graphics", "rec.autos", "rec.sport.hockey", "sci.crypt",
    "sci.med", "sci.space", "soc.religion.christian", "talk.politics.guns",
]
PER_GROUP = 50
MAX_CHARS = 3000


def subject_and_body(text: str) -> str:
    headers, _, body = text.partition("\n\n")
    subject = next((line for line in headers.splitlines() if line.startswith("Subject:")), "")
    return (subject[len("Subject:"):].strip() + "\n\n" + body.strip())[:MAX_CHARS]


def main(source: str, target: str = "data/sample") -> None:
    taken = {group: 0 for group in GROUPS}
    with gzip.open(source, "rt", encoding="utf-8") as lines:
        for line in lines:
            doc = json.loads(line)
            group = doc["labels"][0]
            if doc["split"] != "train" or group not in taken or taken[group] >= PER_GROUP:
                continue
            text = subject_and_body(doc["text"])
            if not text.strip():
                continue
            path = Path(target) / group / (doc["id"].rsplit("/", 1)[1] + ".txt")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text + "\n", encoding="utf-8")
            taken[group] += 1
    root = Path(target)
    with open(root / "metadata.jsonl", "w", encoding="utf-8") as out:
        for path in sorted(root.rglob("*.txt")):
            text = path.read_text(encoding="utf-8")
            out.write(json.dumps({"file_name": path.relative_to(root).as_posix(), "topic": path.parent.name,
                                  "words": len(text.split())}) + "\n")
    write_parquet(root)


def write_parquet(root: Path) -> None:
    """The same posts as one Parquet file beside the folder (``sample.parquet``: id, text and the
    metadata's fields), the format data lakes hold, for the README's Dask example."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with open(root / "metadata.jsonl", encoding="utf-8") as lines:
        fields = [json.loads(line) for line in lines]
    rows = []
    for f in fields:
        name = f.pop("file_name")
        rows.append({"id": name, "text": (root / name).read_text(encoding="utf-8"), **f})
    pq.write_table(pa.Table.from_pylist(rows), root.with_suffix(".parquet"), compression="zstd", row_group_size=100)


if __name__ == "__main__":
    if sys.argv[1:] == ["--parquet-only"]:
        write_parquet(Path("data/sample"))
    else:
        main(*sys.argv[1:])
