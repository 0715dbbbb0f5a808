"""Development sessions: ``nox -s tests``, ``lint``, ``typing``, ``docs``, ``examples``, ``bench``.

No session names a Python version: each runs on the interpreter nox itself runs
on, so ``nox`` works on a machine with only Python 3.11 (and with ``CI`` set,
where nox refuses a missing interpreter).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = False
nox.options.sessions = ["tests", "lint", "typing", "docs", "examples"]

ROOT = Path(__file__).parent
ENV = {"PYTHONWARNDEFAULTENCODING": "1"}


@nox.session
def tests(session: nox.Session) -> None:
    """Run the whole test suite with branch coverage."""
    session.install("-e", ".[tests,postgres]")
    session.run(
        "pytest",
        "--cov=mailbill",
        "--cov-branch",
        "--cov-report=term",
        *session.posargs,
        env=ENV,
    )


@nox.session
def lint(session: nox.Session) -> None:
    """Check style and formatting with ruff."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typing(session: nox.Session) -> None:
    """Type-check the package and the user-side usage file with mypy --strict."""
    session.install("-e", ".[typing,postgres]")
    session.run("mypy", "--strict", "src/mailbill", "tests/typing")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation, warnings as errors, offline."""
    session.install("-e", ".[docs]")
    out = ROOT / "docs" / "_build" / "html"
    session.run("sphinx-build", "-W", "--keep-going", "-n", "-b", "html", "docs", str(out))


@nox.session
def examples(session: nox.Session) -> None:
    """Run every script in examples/ (each must exit 0)."""
    session.install("-e", ".[tests,postgres]")
    for script in sorted((ROOT / "examples").glob("*.py")):
        session.log(f"running {script.name}")
        session.run("python", str(script), env=ENV)


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmarks in benchmarks/ (on demand, never in CI)."""
    session.install("-e", ".[tests]")
    extra = os.environ.get("MAILBILL_BENCH_EXTRA", "")
    if extra:
        session.install(*extra.split())
    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        session.run("python", str(script), *session.posargs, env=ENV)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run with: python -m nox")
