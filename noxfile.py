"""nox sessions: tests, loadtest, lint, typecheck, bench. Each installs the project into its own venv."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """The framework's own tests: unit, pytester and integration on the local stack."""
    session.install("-e", ".[dev]")
    session.run("python", "-m", "pytest_bindy_load.localstack", "provision")
    session.run("pytest", "tests", *session.posargs)


@nox.session
def loadtest(session: nox.Session) -> None:
    """The scenario suite on the quick profile; pass pytest options after --, e.g.
    `nox -s loadtest -- -m burst --profile standard`."""
    session.install("-e", ".[html]")
    args = session.posargs or ["--profile", "quick"]
    session.run("pytest", "loadtests", *args)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session
def bench(session: nox.Session) -> None:
    """Speed and memory targets (generators, metrics, scheduler): pytest-benchmark, never unit tests."""
    session.install("-e", ".[dev]")
    session.run("pytest", "benchmarks", "--benchmark-only", *session.posargs)
