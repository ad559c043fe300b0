"""``python -m hashsearch`` runs the command line."""
from hashsearch.cli import main

main()
