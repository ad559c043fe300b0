"""The ranking modes a search takes (``ranking`` implements them); apart, so the CLI can list them
without importing the index."""

MODES = ("hybrid", "hamming")
