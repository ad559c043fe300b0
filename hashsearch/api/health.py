"""What an index holds and how healthy its codes are: the facts ``hashsearch info`` and the server's
health view show, and the one judgement they make, whether a retrain would help."""
from __future__ import annotations

from typing import Any

import numpy as np

from hashsearch.api.snapshot import Snapshot
from hashsearch.index import codes as codelib
from hashsearch.store.storage import Storage

# Recent documents missing this much more of their words than the training corpus did: the vocabulary is stale.
RETRAIN_OOV_MARGIN = 0.10


def index_facts(snapshot: Snapshot, storage: Storage, *, recent: int = 1000) -> dict[str, Any]:
    """The index's size, model and code statistics; ``retrain_advised`` when the ``recent`` newest
    documents miss notably more of their words than the training corpus did."""
    meta = storage.read_meta()
    codes = snapshot.codes()
    bits = snapshot.hasher.bits
    bits_on = codelib.unpack(codes).mean(axis=0) if len(codes) else np.zeros(bits)
    bucket_sizes = codelib.bucket_sizes(codes)
    recent_oov = snapshot.features.out_of_vocabulary_share(storage.read_recent_texts(recent))
    training_oov = float(meta.get("training_oov_share", 0.0))
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
        "largest_bucket": int(bucket_sizes.max()) if len(bucket_sizes) else 0,
        "training_oov_share": round(training_oov, 4),
        "recent_oov_share": round(recent_oov, 4),
        "retrain_advised": recent_oov > training_oov + RETRAIN_OOV_MARGIN,
        "bucket_size_histogram": codelib.size_histogram(bucket_sizes),
        "training_loss": [round(float(loss), 5) for loss in snapshot.hasher.history_],
        "metadata_fields": snapshot.fields,
    }
