"""The README's method table is the one the registry writes, and its commands match CI."""

from __future__ import annotations

from pathlib import Path

from signxai.methods.table import method_table

ROOT = Path(__file__).resolve().parents[1]


def test_readme_method_table_is_generated_from_the_registry() -> None:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("<!-- methods:start -->") + len("<!-- methods:start -->")
    end = readme.index("<!-- methods:end -->")
    assert readme[start:end].strip() == method_table().strip(), (
        "README method table is stale: run `python -m signxai.methods.table` and paste it"
    )


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = ".venv/bin/pip install -q torch==2.14.1 torchvision==0.29.1 && "
    assert command in readme and command in ci
    assert '.venv/bin/pip install -q -e ".[test]" && .venv/bin/python -m pytest -q' in readme
