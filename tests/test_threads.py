"""augdiff.threads: AUGDIFF_THREADS parsing, the OMP_WAIT_POLICY default, and that the CLI sets it in time."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from augdiff import threads
from augdiff.errors import AugdiffError


@pytest.mark.parametrize(("value", "expected"),
                         [(None, None), ("", None), ("  ", None), ("3", 3), (" 2 ", 2)])
def test_parse_threads(value: str | None, expected: int | None) -> None:
    assert threads.parse_threads(value) == expected


@pytest.mark.parametrize("value", ["auto", "AUTO", " Auto "])
def test_parse_threads_auto_counts_physical_cores(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "physical_cores", lambda: 5)
    assert threads.parse_threads(value) == 5


@pytest.mark.parametrize("value", ["0", "-2", "1.5", "lots", "2 threads"])
def test_parse_threads_rejects_with_one_line(value: str) -> None:
    with pytest.raises(AugdiffError) as info:
        threads.parse_threads(value)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"AUGDIFF_THREADS={value!r}") and "'auto'" in message


def _fake_sysfs(root: Path, topology: dict[int, tuple[int, int]]) -> Path:
    for cpu, (package, core) in topology.items():
        folder = root / f"cpu{cpu}" / "topology"
        folder.mkdir(parents=True)
        (folder / "physical_package_id").write_text(f"{package}\n")
        (folder / "core_id").write_text(f"{core}\n")
    return root


def test_physical_cores_merges_smt_siblings_and_keeps_packages_apart(tmp_path: Path) -> None:
    # cpu0/cpu1 and cpu2/cpu3 are SMT pairs on package 0; cpu4 has core_id 0 again, but on package 1.
    sysfs = _fake_sysfs(tmp_path, {0: (0, 0), 1: (0, 0), 2: (0, 1), 3: (0, 1), 4: (1, 0)})
    assert threads.physical_cores([0, 1, 2, 3, 4], sysfs) == 3
    assert threads.physical_cores([0, 1], sysfs) == 1  # only what the affinity mask allows counts
    assert threads.physical_cores([0, 7, 8], sysfs) == 3  # no topology: each such CPU counts as a core


def test_physical_cores_defaults_to_this_process() -> None:
    assert 1 <= threads.physical_cores() <= len(threads.available_cpus())


def test_default_wait_policy_sets_passive_only_when_unset() -> None:
    environ: dict[str, str] = {}
    assert threads.default_wait_policy(environ) == "PASSIVE" and environ == {"OMP_WAIT_POLICY": "PASSIVE"}
    environ = {"OMP_WAIT_POLICY": "ACTIVE"}
    assert threads.default_wait_policy(environ) == "ACTIVE" and environ == {"OMP_WAIT_POLICY": "ACTIVE"}


def test_apply_threads_sets_torch_only_when_asked() -> None:
    import torch

    before = torch.get_num_threads()
    try:
        assert threads.apply_threads({}) is None and torch.get_num_threads() == before
        target = 1 if before != 1 else 2
        assert threads.apply_threads({"AUGDIFF_THREADS": str(target)}) == target
        assert torch.get_num_threads() == target
    finally:
        torch.set_num_threads(before)


def test_cli_bad_augdiff_threads_is_one_line(runner: CliRunner) -> None:
    import torch

    from augdiff.cli import app

    before = torch.get_num_threads()
    try:
        result = runner.invoke(app, ["list", "--json"], env={"AUGDIFF_THREADS": "lots"})
        assert result.exit_code == 2, result.output
        lines = [line for line in result.output.strip().splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: AUGDIFF_THREADS='lots'"), result.output
        assert runner.invoke(app, ["list", "--json"], env={"AUGDIFF_THREADS": "1"}).exit_code == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_cli_sets_the_wait_policy_before_openmp_starts() -> None:
    # libgomp reads OMP_WAIT_POLICY once, when `import torch` loads it; OMP_DISPLAY_ENV=VERBOSE makes every
    # OpenMP runtime print what it read at that moment. PASSIVE shows as GOMP_SPINCOUNT '0' (default: 300000).
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env.update(OMP_DISPLAY_ENV="VERBOSE", OMP_NUM_THREADS="1")
    code = "import os, augdiff.cli, torch; print('policy', os.environ['OMP_WAIT_POLICY'])"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert "policy PASSIVE" in result.stdout
    counts = re.findall(r"GOMP_SPINCOUNT = '(\d+)'", result.stderr)
    assert counts and set(counts) == {"0"}, result.stderr
