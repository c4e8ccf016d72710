"""Shared fixtures: isolated run/cache folders per session, the optional pcam-mini data, a CLI runner."""

from __future__ import annotations

import os

# Idle OpenMP threads sleep instead of spinning: the suite starts subprocesses (torchrun, SIGKILL-resume) that
# share the cores with the main process. Must be set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

PCAM_MINI = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "pcam-mini"


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    # One cache per test session: synth-histo renders once, and nothing touches the user's ~/.cache.
    os.environ["AUGDIFF_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    os.environ.pop("AUGDIFF_DATA_ROOT", None)
    os.environ.pop("AUGDIFF_DEBUG", None)


@pytest.fixture(autouse=True)
def _isolated_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUGDIFF_RUNS_DIR", str(tmp_path / "runs"))


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny models gain nothing from a second intra-op thread, and pay for it in synchronisation."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def pcam_mini() -> Path:
    if not (PCAM_MINI / "train").is_dir():
        pytest.skip(f"pcam-mini not found at {PCAM_MINI}")
    return PCAM_MINI
