"""What a command pays before it starts: importing the package, opening an index and searching it load
neither torch (imported only to train) nor scikit-learn (a benchmark peer only)."""
import json
import subprocess
import sys

HEAVY = ("torch", "sklearn", "fastapi")


def loaded_after(code: str) -> dict:
    """Which of ``HEAVY`` a fresh interpreter has imported after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return json.loads(out.splitlines()[-1])


def test_importing_the_package_and_its_cli_loads_no_heavy_module():
    assert loaded_after("import hashsearch, hashsearch.cli") == dict.fromkeys(HEAVY, False)


def test_opening_an_index_and_searching_it_never_imports_torch(built_db):
    code = (f"from hashsearch import Searcher\n"
            f"with Searcher.open({built_db!r}) as s:\n"
            f"    assert s.search('a rocket to the moon', k=5)\n"
            f"    assert s.similar(s.search('hockey', k=1)[0].id, k=3)")
    assert loaded_after(code) == dict.fromkeys(HEAVY, False)


def test_python_dash_m_runs_the_cli():
    result = subprocess.run([sys.executable, "-m", "hashsearch", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("hashsearch, version ")


def test_getting_documents_from_a_lazily_opened_index_loads_no_search_structures(built_db):
    """``Searcher.open(lazy=True)`` (the CLI's get and remove) reads documents without importing FAISS,
    SciPy or torch: the search stack is imported by the first search."""
    code = (f"from hashsearch import Searcher\n"
            f"with Searcher.open({built_db!r}, lazy=True) as s:\n"
            f"    assert s.get([s._storage.read_lookup().ids[0]]) and len(s) == 400 and s.bits == 32\n"
            f"import sys\n"
            f"assert not {{'faiss', 'scipy', 'torch'}} & set(sys.modules), sorted(sys.modules)")
    loaded_after(code)


def test_a_search_imports_no_scipy_and_faiss_only_for_a_faiss_scan(built_db):
    """A query is encoded from one row of (columns, weights), without SciPy's matrices; FAISS is imported
    by the first search that scans with it (``search_paths``), not by opening an index."""
    code = (f"import sys\n"
            f"from hashsearch import Searcher\n"
            f"with Searcher.open({built_db!r}) as s:\n"
            f"    assert 'faiss' not in sys.modules\n"
            f"    assert s.search('a rocket to the moon', k=5) and s.search('hockey playoffs', mode='hamming')\n"
            f"    scanned = s.search_paths()['faiss_scan']\n"
            f"    assert 'scipy' not in sys.modules, sorted(m for m in sys.modules if 'scipy' in m)\n"
            f"    assert ('faiss' in sys.modules) == (scanned > 0), scanned")
    loaded_after(code)


def test_training_never_imports_torch_dynamo():
    """torch.optim's first use imports torch._dynamo (about a second of a cold ``hashsearch index``);
    training steps with ``FusedAdam`` instead."""
    code = ("import numpy as np, scipy.sparse as sp, sys\n"
            "from hashsearch import SemanticHasher\n"
            "X = sp.random(60, 40, density=0.2, format='csr', random_state=0, dtype=np.float32)\n"
            "SemanticHasher(bits=16, epochs=2).fit(X)\n"
            "assert 'torch' in sys.modules and 'torch._dynamo' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
