"""What the GAN plugins' tests (progan, lofgan, mixdl) check alike: toy data, a fit killed by SIGKILL and resumed
ends with the weights of an uninterrupted one, a saved and loaded generator samples what the fitted one does, and
``augdiff fit`` + ``augment`` write a labelled PNG set."""

from __future__ import annotations

import operator
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from typer.testing import CliRunner

from augdiff.cli import app
from augdiff.data.spec import Split
from augdiff.generator import Generator, Samples, read_generated_set
from augdiff.training.checkpoint import latest_checkpoint


def toy_images(n: int = 12, size: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random uint8 NHWC images and labels alternating 0, 1."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8), np.arange(n) % 2


def toy_split(size: int = 8, id_prefix: str = "") -> Split:
    """toy_images() as a training split of classes a and b, image ``i`` named ``f"{id_prefix}{i}"``."""
    images, labels = toy_images(size=size)
    return Split("train", ["a", "b"], images, labels, [f"{id_prefix}{i}" for i in range(len(labels))])


def check_save_load_generates_identically(gen: Generator, tmp_path: Path, *, size: int) -> Samples:
    """Save the fitted ``gen``, load it back, and check both draw the same five images for a seed (3 of class a,
    2 of b, not all alike); returns the fitted generator's samples."""
    gen.save(tmp_path / "model")
    loaded = type(gen).load(tmp_path / "model")
    a, b = gen.generate(5, seed=1), loaded.generate(5, seed=1)
    assert a.images.shape == (5, size, size, 3) and a.images.dtype == np.uint8
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.probs, np.eye(2, dtype=np.float32)[[0, 0, 0, 1, 1]])
    assert not np.array_equal(a.images[0], a.images[1])
    return a


# The killed run imports only what training needs (not the test modules, which pull in the CLI). ``make_trainer``
# binds ``trainer`` from ``config``, ``workdir`` and toy_images()' ``images`` and ``labels``.
_KILLED_RUN = """
import os, signal, numpy as np, torch
from pathlib import Path
torch.set_num_threads({threads})
images = np.random.default_rng(0).integers(0, 256, (12, {size}, {size}, 3), dtype=np.uint8)
labels = np.arange(12) % 2
config, workdir = {config!r}, Path({workdir!r})
{make_trainer}
save = trainer._save
def save_then_die():
    save()
    os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no flush: as if the machine went away
trainer._save = save_then_die
trainer.fit()
"""


def check_resume_after_sigkill(
    tmp_path: Path,
    make_trainer: str,
    trainer: Callable[[Path], Any],
    *,
    config: dict[str, Any],
    size: int,
    networks: tuple[str, ...],
    steps: int = 6,
) -> None:
    """Kill a fit (``make_trainer`` in a fresh process) right after its first checkpoint (step 2), resume it
    with ``trainer(workdir)``, and compare every network in ``networks`` (attribute paths: parameters and
    buffers) with those of an uninterrupted fit of ``steps`` steps."""
    killed = tmp_path / "killed"
    script = _KILLED_RUN.format(threads=torch.get_num_threads(), size=size, config=config, workdir=str(killed),
                                make_trainer=textwrap.dedent(make_trainer))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    assert latest_checkpoint(killed).name == "step-00000002.pt"  # died after the first of three checkpoints

    resumed = trainer(killed)
    resumed.fit()
    fresh = trainer(tmp_path / "fresh")
    fresh.fit()
    assert resumed.step == fresh.step == steps
    for name in networks:
        a, b = operator.attrgetter(name)(resumed).state_dict(), operator.attrgetter(name)(fresh).state_dict()
        assert list(a) == list(b)
        for key in a:
            assert torch.equal(a[key], b[key]), f"{name}.{key} differs after resume"


def check_cli_fit_then_augment(runner: CliRunner, tmp_path: Path, generator: str) -> None:
    """``augdiff fit GENERATOR`` and ``augment --n 16`` on synth-histo (smoke profile): 16 PNGs, 8 of each class."""
    runs = ["--runs-dir", str(tmp_path / "runs")]
    fit = runner.invoke(app, ["fit", generator, "--data", "synth-histo", "--profile", "smoke", *runs])
    assert fit.exit_code == 0, fit.output
    out = tmp_path / "out"
    result = runner.invoke(app, ["augment", "--generator", generator, "--data", "synth-histo", "--profile",
                                 "smoke", "--n", "16", "--out", str(out), *runs])
    assert result.exit_code == 0, result.output
    generated = read_generated_set(out)
    assert len(generated) == 16 and len(list((out / "images").glob("*.png"))) == 16
    assert generated.images().shape == (16, 16, 16, 3)
    assert sorted(generated.probs().argmax(1).tolist()) == [0] * 8 + [1] * 8
