"""Word sketches: SimHash of the vocabulary words, the same for a document stored and searched by its text."""
import zlib

import numpy as np

from hashsearch.index.sketch import SKETCH_BITS, sketch_distances
from hashsearch.index.words import encode_words
from hashsearch.text.analysis import Analyzer

ANALYZER = Analyzer()  # the default text analysis, as a default build uses it


def splitmix64(value):
    """SplitMix64's output for one int, in plain Python (the reference for the sketch's signs)."""
    mask = (1 << 64) - 1
    z = (value + 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)


def reference_sketch(features, text):
    """SimHash in plain Python: each vocabulary word's weight added with the signs of its 128 hash
    bits; (bits, how far each sum is from 0)."""
    columns, weights = features.weighted_terms(ANALYZER.terms(text))
    totals = [0.0] * SKETCH_BITS
    for column, weight in zip(columns.tolist(), weights.tolist(), strict=False):
        seed = zlib.crc32(features.vocabulary_[column].encode("utf-8")) << 1
        signs = splitmix64(seed).to_bytes(8, "little") + splitmix64(seed | 1).to_bytes(8, "little")
        for bit in range(SKETCH_BITS):
            on = (signs[bit // 8] >> (7 - bit % 8)) & 1
            totals[bit] += weight if on else -weight
    return np.array([t > 0 for t in totals]), np.abs(totals)


def test_a_sketch_is_the_simhash_of_the_weighted_vocabulary_words(searcher, sample_docs):
    features, sketcher = searcher._snapshot.features, searcher._snapshot.sketcher
    for doc in sample_docs[::40]:
        bits, margins = reference_sketch(features, doc["text"])
        mine = np.unpackbits(sketcher.query(*features.weighted_terms(ANALYZER.terms(doc["text"]))))
        clear = margins > 1e-4  # a sum this close to 0 may round either way
        assert clear.mean() > 0.95 and mine[clear].tolist() == bits[clear].tolist()


def test_a_stored_document_s_sketch_is_the_sketch_of_its_text(searcher, sample_docs):
    features, sketcher = searcher._snapshot.features, searcher._snapshot.sketcher
    stored = sketcher.documents([encode_words(ANALYZER.terms(doc["text"])) for doc in sample_docs])
    searched = np.array([sketcher.query(*features.weighted_terms(ANALYZER.terms(doc["text"]))) for doc in sample_docs])
    assert stored.tobytes() == searched.tobytes()
    segment = searcher._snapshot.main
    rows = [segment.row_of(doc["id"]) for doc in sample_docs]
    assert segment.sketches[rows].tobytes() == stored.tobytes()


def test_sketch_distance_tracks_shared_words(searcher, sample_docs):
    """A text near its own sketch, a trimmed copy nearer than posts of other topics."""
    features, sketcher = searcher._snapshot.features, searcher._snapshot.sketcher
    sketch = lambda text: sketcher.query(*features.weighted_terms(ANALYZER.terms(text)))  # noqa: E731
    doc = max(sample_docs, key=lambda d: len(d["text"]))
    others = np.array([sketch(d["text"]) for d in sample_docs if d["topic"] != doc["topic"]])
    own = sketch(doc["text"])
    trimmed = sketch(doc["text"][: len(doc["text"]) * 3 // 4])
    far = sketch_distances(others, np.arange(len(others)), own)
    assert sketch_distances(own[None], np.array([0]), own)[0] == 0
    assert sketch_distances(trimmed[None], np.array([0]), own)[0] < np.percentile(far, 5)
    assert 40 < np.median(far) < 88  # unrelated texts: about half the bits differ


def test_a_text_without_vocabulary_words_has_the_empty_sketch(searcher):
    features, sketcher = searcher._snapshot.features, searcher._snapshot.sketcher
    assert not sketcher.query(*features.weighted_terms(ANALYZER.terms("zqxv wplk"))).any()
    assert not sketcher.documents([encode_words(ANALYZER.terms("zqxv wplk")), b""]).any()
