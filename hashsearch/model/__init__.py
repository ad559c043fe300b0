"""The semantic-hashing autoencoder: the network (torch), its training loop, and ``SemanticHasher``, the
estimator that trains it and encodes documents to codes. Encoding and loading use numpy and safetensors
only: torch is imported only to train.

May import: ``hashsearch.index.codes`` (the packed code layout), ``hashsearch.text``, ``hashsearch.errors``,
``hashsearch.progress``.
"""
