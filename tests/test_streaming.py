"""The streaming build: term counts gathered over a stream, a source read twice (a generator spooled),
a reservoir sample to train on, ids checked by their hashes, and a build equal to one over a list."""
import json
import random
import subprocess
import sys

import numpy as np
import pytest

from hashsearch import Searcher
from hashsearch.api import streaming
from hashsearch.api.streaming import Replay, batches, scan
from hashsearch.errors import CorpusError
from hashsearch.store.storage import Storage
from hashsearch.text.analysis import Analyzer
from hashsearch.text.counting import TermCounts
from hashsearch.text.features import TextFeatures
from hashsearch.text.records import Fields
from tests.conftest import FAST


def term_lists(texts):
    analyzer = Analyzer()
    return [analyzer.terms(text) for text in texts]


def test_counts_over_a_stream_learn_what_fit_transform_learns(sample_docs):
    texts = [d["text"] for d in sample_docs]
    whole = TextFeatures()
    X = whole.fit_transform(texts)
    streamed = TextFeatures()
    streamed.new_analyzer()
    streamed.fit_counts(TermCounts().add_all(term_lists(texts)))
    assert streamed.vocabulary_ == whole.vocabulary_
    np.testing.assert_array_equal(streamed.idf_, whole.idf_)
    assert streamed.mean_length_ == pytest.approx(whole.mean_length_)
    assert (streamed.transform_terms(term_lists(texts)) != X).nnz == 0


def test_counts_of_parts_merge_into_the_counts_of_the_whole(sample_docs):
    lists = term_lists(d["text"] for d in sample_docs)
    whole = TermCounts().add_all(lists)
    merged = TermCounts().add_all(lists[:150]).merge(TermCounts().add_all(lists[150:]))
    assert merged.texts == whole.texts == len(lists)
    assert merged.document_frequency == whole.document_frequency
    assert merged.term_frequency == whole.term_frequency


def test_a_bounded_table_drops_the_rarest_terms_and_says_so():
    rng = random.Random(0)
    common = [f"common{i}".encode() for i in range(20)]
    counts = TermCounts(max_terms=200)
    for number in range(2000):  # every text: common words, and two words no other text holds
        counts.add(rng.sample(common, 10) + [f"once{number}a".encode(), f"once{number}b".encode()])
    assert len(counts.document_frequency) <= 200
    assert all(term in counts.document_frequency for term in common)  # the frequent terms are all kept
    assert counts.document_frequency == brute_force_df(counts, common, rng_texts=2000)
    assert counts.dropped_at_most == 1


def brute_force_df(counts, common, rng_texts):
    """The exact document frequencies of the terms ``counts`` kept, recounted from the same texts."""
    rng = random.Random(0)
    exact = {}
    for number in range(rng_texts):
        for term in set(rng.sample(common, 10) + [f"once{number}a".encode(), f"once{number}b".encode()]):
            exact[term] = exact.get(term, 0) + 1
    return {term: exact[term] for term in counts.document_frequency}


def docs(n, seed=0):
    rng = random.Random(seed)
    words = ["rocket", "orbit", "moon", "launch", "engine", "car", "wheel", "brake", "hockey", "goal", "puck", "team"]
    return [{"id": f"d{i}", "text": " ".join(rng.choices(words, k=12))} for i in range(n)]


def test_a_generator_is_spooled_and_read_again_the_same():
    records = docs(50)
    with Replay((r for r in records), Fields()) as replay:
        first = [(where, doc) for where, doc in replay.read()]
        second = list(replay.read())
    assert first == second
    assert [doc.id for _, doc in first] == [r["id"] for r in records]


def test_the_sample_is_the_whole_small_corpus_in_order_and_a_seeded_uniform_sample_of_a_large_one():
    records = docs(500)
    analyzer = Analyzer()
    with Replay(records, Fields()) as replay:
        whole = scan(replay, analyzer, sample_size=1000, seed=0, quiet=True)
        sampled = scan(replay, analyzer, sample_size=100, seed=0, quiet=True)
        again = scan(replay, analyzer, sample_size=100, seed=0, quiet=True)
        other = scan(replay, analyzer, sample_size=100, seed=1, quiet=True)
    assert [d.id for d in whole.sample] == [r["id"] for r in records]
    positions = [int(d.id[1:]) for d in sampled.sample]
    assert len(positions) == 100 and positions == sorted(positions)  # in reading order
    assert [d.id for d in again.sample] == [d.id for d in sampled.sample]
    assert [d.id for d in other.sample] != [d.id for d in sampled.sample]
    assert positions[-1] > 250  # drawn from the whole stream, not its head
    assert whole.documents == sampled.documents == 500 and whole.counts.texts == 500


@pytest.mark.parametrize("one_shot", [False, True])
def test_a_duplicate_id_is_named_with_both_places(one_shot):
    records = docs(30) + [{"id": "d7", "text": "again"}]
    source = (r for r in records) if one_shot else records
    with Replay(source, Fields()) as replay, pytest.raises(CorpusError, match=r"item 31: duplicate id 'd7' "
                                                                             r"\(first seen at .*item 8\)"):
        scan(replay, Analyzer(), sample_size=10, seed=0, quiet=True)


def test_batches_skip_empty_documents_and_hold_at_most_their_size():
    with Replay(docs(10) + [{"id": "empty", "text": "  "}], Fields()) as replay:
        sizes = [len(batch) for batch in batches((doc for _, doc in replay.read()), 4)]
    assert sizes == [4, 4, 2]


def test_a_build_from_a_generator_equals_one_from_a_list_and_trains_on_its_sample(tmp_path, sample_docs,
                                                                                monkeypatch):
    monkeypatch.setattr(streaming, "BATCH_DOCUMENTS", 64)  # several batches even on the sample
    options = {"bits": 32, "max_train_documents": 300, **FAST}
    listed = Searcher.build(sample_docs, tmp_path / "list.db", **options)
    generated = Searcher.build((d for d in sample_docs), tmp_path / "generator.db", **options)
    read_back = [Storage.open(tmp_path / name).read_lookup() for name in ("list.db", "generator.db")]
    assert read_back[0][0] == read_back[1][0] == [d["id"] for d in sample_docs]
    np.testing.assert_array_equal(read_back[0][1], read_back[1][1])
    assert listed.info()["training_documents"] == 300
    assert generated.last_change.added == len(sample_docs)
    assert [h.id for h in listed.search("space shuttle launch", k=5)] == \
        [h.id for h in generated.search("space shuttle launch", k=5)]


def test_a_build_from_a_file_reads_it_twice_without_holding_it(tmp_path, sample_docs):
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in sample_docs), encoding="utf-8")
    from_file = Searcher.build(path, tmp_path / "file.db", bits=32, **FAST)
    from_list = Searcher.build(sample_docs, tmp_path / "list.db", bits=32, **FAST)
    assert from_file.encode(["orbit"]).tolist() == from_list.encode(["orbit"]).tolist()
    assert from_file.info()["documents"] == len(sample_docs)


BUILD_IN_A_FRESH_PROCESS = """
import json, random, resource, sys
from hashsearch.api.writer import build_index
import torch  # imported before the baseline: training loads it anyway

rng = random.Random(0)
words = open(sys.argv[1], encoding="utf-8").read().split()
with open(sys.argv[2], "w", encoding="utf-8") as out:
    for i in range(int(sys.argv[3])):
        out.write(json.dumps({"id": f"d{i}", "text": " ".join(rng.choices(words, k=30))}) + "\\n")
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
storage, report = build_index(sys.argv[2], sys.argv[4], bits=32, epochs=3, hidden=64, max_train_documents=2000)
print(json.dumps({"added": report.added, "stored": storage.count_documents(),
                  "growth_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline) / 1024}))
"""
GROWTH_LIMIT_MB = 250  # over the process's size after imports; a build that held the corpus grew 360 MB here


@pytest.mark.slow
def test_a_build_of_200000_documents_holds_a_batch_not_the_corpus(tmp_path, sample_docs):
    """Peak memory of a build of 200,000 thirty-word documents (38 MB of JSON lines), beyond what the
    process held after its imports: the term counts, a 2,000-document training sample and a batch."""
    words = tmp_path / "words.txt"
    words.write_text(" ".join(w for d in sample_docs[:100] for w in d["text"].split() if w.isalpha()),
                     encoding="utf-8")
    script = tmp_path / "build.py"
    script.write_text(BUILD_IN_A_FRESH_PROCESS, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script), str(words), str(tmp_path / "docs.jsonl"), "200000",
                           str(tmp_path / "index.db")], capture_output=True, text=True, timeout=600, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["added"] == result["stored"] == 200_000
    assert result["growth_mb"] <= GROWTH_LIMIT_MB, result
