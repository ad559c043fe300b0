"""``python -m hashsearch`` runs the command line."""
from .cli import main

main()
