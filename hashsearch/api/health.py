"""What an index holds and how healthy its codes are: the facts ``hashsearch info`` and the server's
health view show, and the judgements they make: whether the vocabulary has gone stale, and whether the
codes have collapsed (most documents on one code, or bits that hardly ever change), either of which a
retrain mends."""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from hashsearch.api.snapshot import Snapshot
from hashsearch.index import codes as codelib
from hashsearch.store.storage import Storage

# Recent documents missing this much more of their words than the training corpus did: the vocabulary is stale.
RETRAIN_OOV_MARGIN = 0.10
# Codes have collapsed when one code holds more than this share of the documents (a healthy 64-bit index
# of 400 posts spreads them over hundreds of codes)...
COLLAPSED_BUCKET_SHARE = 0.10
# ...or when more than a quarter of the bits are stuck: on (or off) for all but this share of documents.
STUCK_BIT_SHARE, STUCK_BITS_SHARE = 0.03, 0.25
MIN_DOCUMENTS_TO_JUDGE = 50  # fewer documents say little about how codes spread
RECENT_TERMS = 5_000  # the newest documents' words read to judge the vocabulary's drift


def example_queries(snapshot: Snapshot, recent_texts: Sequence[str], n: int = 6) -> list[str]:
    """``n`` words to try, from the index's own vocabulary: terms spread over its commoner half (by
    document frequency: the common ones say little, the rarest too little), each as the word the recent
    documents (``recent_texts``, newest first: their first ``RECENT_TERMS`` words) write most often for it
    (terms are stems: "launch" stands for launches, launched)."""
    features = snapshot.features
    analyzer = features.analyzer_
    order = np.argsort(features.idf_, kind="stable")  # most frequent first
    pool = [features.vocabulary_[i] for i in order[len(order) // 50:len(order) // 2]
            if len(features.vocabulary_[i]) >= 4 and features.vocabulary_[i].isalpha()]
    if not pool:
        return []
    spread = [pool[round(j * (len(pool) - 1) / max(1, n * 4 - 1))] for j in range(n * 4)]
    wanted = set(spread)
    forms: dict[str, dict[str, int]] = {}
    stems: dict[str, str | None] = {}  # each distinct word analysed once
    read = 0
    for text in recent_texts:
        if read >= RECENT_TERMS:  # as many words as judge the vocabulary's drift: enough to find forms
            break
        words = re.findall(r"[^\W\d_]{4,}", text)
        read += len(words)
        for word in words:
            word = word.lower()
            if word not in stems:
                terms = analyzer.terms(word)
                stems[word] = terms[0].decode("utf-8") if len(terms) == 1 else None
            if (stem := stems[word]) is not None and stem in wanted:
                counts = forms.setdefault(stem, {})
                counts[word] = counts.get(word, 0) + 1
    found = [stem for stem in dict.fromkeys(spread) if stem in forms]
    words = [max(forms[stem], key=lambda form: (forms[stem][form], form)) for stem in found]
    return words[:: max(1, len(words) // n)][:n]


def index_facts(snapshot: Snapshot, storage: Storage, *, recent: int = 300) -> dict[str, Any]:
    """The index's size, model and code statistics; ``retrain_advised`` when the ``recent`` newest
    documents (their first ``RECENT_TERMS`` words) miss notably more of their words than the training
    corpus did."""
    meta = storage.read_meta()
    codes = snapshot.codes()
    bits = snapshot.hasher.bits
    bits_on = codelib.unpack(codes).mean(axis=0) if len(codes) else np.zeros(bits)
    bucket_sizes = codelib.bucket_sizes(codes)
    recent_texts = storage.read_recent_texts(recent)  # read once: the vocabulary's drift and the examples
    recent_oov = snapshot.features.out_of_vocabulary_share(recent_texts, enough_terms=RECENT_TERMS)
    training_oov = float(meta.get("training_oov_share", 0.0))
    largest = int(bucket_sizes.max()) if len(bucket_sizes) else 0
    stuck = int(((bits_on < STUCK_BIT_SHARE) | (bits_on > 1 - STUCK_BIT_SHARE)).sum())
    judged = len(codes) >= MIN_DOCUMENTS_TO_JUDGE
    collapsed = judged and (largest > COLLAPSED_BUCKET_SHARE * len(codes) or stuck > STUCK_BITS_SHARE * bits)
    stale = recent_oov > training_oov + RETRAIN_OOV_MARGIN
    advice = []
    if collapsed:
        advice.append(f"The codes have collapsed: {largest:,} of {len(codes):,} documents share one code and "
                      f"{stuck} of {bits} bits hardly ever change, so codes tell few documents apart. Retrain: "
                      "hashsearch index SOURCE --retrain (with more documents, or another --seed).")
    if stale:
        advice.append(f"Recent documents miss {recent_oov:.0%} of their words from the vocabulary (at training: "
                      f"{training_oov:.0%}): the model never saw their words. Retrain: hashsearch index SOURCE "
                      "--retrain.")
    return {
        "database": storage.display_name,
        "documents": len(codes),
        "bits": bits,
        "variant": meta.get("variant"),
        "trained_at": meta.get("trained_at"),
        "training_documents": meta.get("training_documents"),
        "vocabulary_size": snapshot.features.n_features,
        "bit_on_share": [round(float(share), 3) for share in bits_on],
        "distinct_codes": len(bucket_sizes),
        "largest_bucket": largest,
        "stuck_bits": stuck,
        "training_oov_share": round(training_oov, 4),
        "recent_oov_share": round(recent_oov, 4),
        "collapsed": collapsed,
        "retrain_advised": collapsed or stale,
        "advice": advice,
        "bucket_size_histogram": codelib.size_histogram(bucket_sizes),
        "training_loss": [round(float(loss), 5) for loss in snapshot.hasher.history_],
        "metadata_fields": snapshot.fields,
        "example_queries": example_queries(snapshot, recent_texts),
    }
