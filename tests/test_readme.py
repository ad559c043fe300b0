"""The README's examples run as written, on the sample: its command-line examples (each `hashsearch ...`
of its bash blocks but the server's, the install and the PostgreSQL ones) and its Python blocks, in
order, in a folder that holds the repository's `data/` (sqlite-utils tests its documentation this way)."""
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from hashsearch.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```(\w+)\n(.*?)^```", README, flags=re.S | re.M)
SKIPPED = ("serve", "postgresql://", "corpus/")  # a server that runs until stopped; a server and folder we lack


def cli_examples() -> list[str]:
    commands = []
    for language, body in BLOCKS:
        if language != "bash":
            continue
        for line in body.replace("\\\n", " ").splitlines():
            for part in line.split("&&"):
                part = part.split("  #")[0].strip()
                if part.startswith("hashsearch ") and not any(skip in part for skip in SKIPPED):
                    commands.append(part)
    return commands


@pytest.fixture()
def readme_folder(tmp_path, monkeypatch):
    (tmp_path / "data").symlink_to(ROOT / "data")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_readme_has_the_examples_this_test_runs():
    commands = cli_examples()
    assert "hashsearch index data/sample/" in commands and len(commands) >= 7
    assert sum(language == "python" for language, _ in BLOCKS) >= 2


@pytest.mark.slow
def test_the_readme_command_line_examples_run_on_the_sample(readme_folder):
    runner = CliRunner()
    for command in cli_examples():
        result = runner.invoke(main, shlex.split(command)[1:])
        assert result.exit_code == 0, f"{command}\n{result.output}"
        if "--where topic=rec.autos" in command:
            assert '"id": "rec.autos/' in result.output and "sci." not in result.output
        if command.startswith("hashsearch query") and "--where" not in command:
            assert "No hits." not in result.output


@pytest.mark.slow
def test_the_readme_python_examples_run_on_the_sample(readme_folder):
    import scipy.sparse as sp

    namespace = {"X_train": sp.random(60, 300, density=0.05, format="csr", random_state=0),
                 "X_test": sp.random(5, 300, density=0.05, format="csr", random_state=1)}
    for language, body in BLOCKS:
        if language == "python":
            exec(compile(body, "README.md", "exec"), namespace)  # noqa: S102 - the README's own examples
    assert namespace["hits"] and namespace["documents"][0].metadata == {"topic": "sci.space", "words": 454}
    assert namespace["codes"].shape == (5, 8)
    assert namespace["report"].added == 400 and namespace["lake_hits"]  # the Dask example's local cluster
