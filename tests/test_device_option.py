"""``--device`` on fit, augment, evaluate and benchmark: checked up front, carried to every model, never an identity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from cli_checks import one_line_error

from augdiff.classify.train import CLASSIFIER_PROFILES, copy_config
from augdiff.cli import app
from augdiff.data.spec import DataOptions
from augdiff.devices import check_device, metrics_device, resolve_device
from augdiff.errors import AugdiffError
from augdiff.plan import plan_generator
from augdiff.training.config import TrainConfig
from augdiff.training.precision import classifier_precision

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")

COMMANDS = {
    "fit": ["fit", "stain-jitter"],
    "augment": ["augment", "--generator", "stain-jitter", "--n", "4"],
    "evaluate": ["evaluate", "--generator", "stain-jitter", "--n", "4"],
    "benchmark": ["benchmark", "--generators", "stain-jitter", "--seeds", "1"],
}


@no_cuda
@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("device", ["cuda:7", "nonsense"])
def test_an_unavailable_or_unknown_device_is_one_line_before_any_work(
    runner, tmp_path: Path, command: str, device: str  # type: ignore[no-untyped-def]
) -> None:
    runs = tmp_path / "runs"
    result = runner.invoke(app, [*COMMANDS[command], "--profile", "smoke", "--device", device],
                           env={"AUGDIFF_RUNS_DIR": str(runs), "COLUMNS": "400"})
    why = "no CUDA device is available" if device.startswith("cuda") else "not a torch device"
    line = one_line_error(result, f"--device {device}", why)
    assert "--device cpu" in line or "cpu, cuda" in line  # says what to use instead
    assert not runs.exists()  # refused before any data was read or run folder opened


def test_cpu_is_accepted_and_the_fit_is_the_one_made_without_it(runner) -> None:  # type: ignore[no-untyped-def]
    plain = runner.invoke(app, ["fit", "stain-jitter", "--profile", "smoke", "--json"])
    assert plain.exit_code == 0, plain.output
    on_cpu = runner.invoke(app, ["fit", "stain-jitter", "--profile", "smoke", "--device", "cpu", "--json"])
    assert on_cpu.exit_code == 0, on_cpu.output
    assert '"reused": true' in on_cpu.stdout


def _plan(**kw: Any):  # type: ignore[no-untyped-def]
    return plan_generator("ddpm-pcam", "synth-histo", DataOptions(seed=0), profile="smoke", seed=0, **kw)


def test_the_device_reaches_fit_and_sampling_configs_but_no_identity() -> None:
    default = _plan()
    on_cpu = _plan(device="cpu")
    by_set = _plan(overrides={"device": "cpu"})
    for plan in (on_cpu, by_set):
        assert plan.fit_config["device"] == "cpu" and plan.sampling_config["device"] == "cpu"
        assert plan.new_fit_model().config["device"] == "cpu"  # what the trainer reads
        assert plan.fit_run_id == default.fit_run_id  # a fit made on one device is reused on another
        assert plan.sampling_identity == default.sampling_identity  # and so is a generated set
    assert default.fit_config["device"] == "auto"
    # add keeps its device among the sampling options: --device still reaches its fit (it trains there too).
    add = plan_generator("add", "synth-histo", DataOptions(seed=0), profile="smoke", seed=0, device="cpu")
    assert add.fit_config["device"] == "cpu" and add.sampling_config["device"] == "cpu"


@no_cuda
def test_set_device_takes_any_torch_device_name_and_checks_it_like_the_option() -> None:
    # The type check takes the string (it refused cuda:1 before): what stops it is this machine having no GPU.
    with pytest.raises(AugdiffError, match=r"--set device=cuda:1: no CUDA device is available.*--set device=cpu"):
        _plan(overrides={"device": "cuda:1"})
    with pytest.raises(AugdiffError, match="--set device=gpu0: not a torch device"):
        _plan(overrides={"device": "gpu0"})
    with pytest.raises(AugdiffError, match="give the device once"):
        _plan(overrides={"device": "cpu"}, device="auto")
    assert TrainConfig(steps=1, device="cuda:1").device == "cuda:1"  # checked against the machine at training
    with pytest.raises(AugdiffError, match="not a torch device"):
        TrainConfig(steps=1, device="gpu")


@no_cuda
def test_resolution_and_checks_without_cuda() -> None:
    assert check_device("cpu") == "cpu" and check_device("auto") == "auto"
    assert resolve_device("auto") == torch.device("cpu")
    assert metrics_device(None) == "cpu" and metrics_device("auto") == "cpu"
    with pytest.raises(AugdiffError, match="no CUDA device"):
        resolve_device("cuda")


def test_classifier_precision_follows_the_device() -> None:
    cpu = torch.device("cpu")
    assert classifier_precision("auto", cpu) == "fp32"  # bf16 measured slower on these CPUs
    assert classifier_precision("bf16", cpu) == "bf16" and classifier_precision("fp32", cpu) == "fp32"
    with pytest.raises(AugdiffError, match="unknown"):
        classifier_precision("fp16", cpu)  # the classifier loop has no loss scaler
    if torch.cuda.is_available():
        expected = "bf16" if torch.cuda.is_bf16_supported() else "fp32"
        assert classifier_precision("auto", torch.device("cuda")) == expected
    # The paper profile (a GPU's) asks for auto: bf16 where supported, fp32 on the CPU.
    assert CLASSIFIER_PROFILES["paper"].precision == "auto"


def test_the_classifier_device_is_carried_but_not_part_of_any_key() -> None:
    config = CLASSIFIER_PROFILES["smoke"]
    moved = copy_config(config, device="cpu")
    assert moved.device == "cpu"  # the trainer reads it (resolve_device(config.device))
    assert moved.to_dict() == config.to_dict()  # cells and benchmark folders are keyed alike on every device


def test_benchmark_hands_the_device_to_the_classifier_and_the_metrics(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import sys

    from augdiff.benchmark import protocol

    sys.path.insert(0, str(Path(__file__).resolve().parent / "benchmark"))
    from bench_helpers import register_tiny_plugin

    seen: dict[str, Any] = {}
    real_train = protocol.train_classifier

    def train(*args: Any, **kw: Any) -> Any:
        seen.setdefault("classifier", (kw.get("config") or args[4]).device)
        return real_train(*args, **kw)

    def quality(*args: Any, **kw: Any) -> dict[str, Any]:
        seen["metrics"] = kw["device"]
        return {}

    monkeypatch.setattr(protocol, "train_classifier", train)
    monkeypatch.setattr(protocol, "generation_quality", quality)
    unregister = register_tiny_plugin()
    try:
        protocol.run_benchmark(protocol.BenchmarkOptions(
            data="tiny-data", data_options=DataOptions(seed=0), profile="smoke", generators=["tiny-gen"],
            sets=["mixed"], seeds=1, steps=2, out=tmp_path / "bench", runs_dir=tmp_path / "runs", metrics=[],
            device="cpu"))
    finally:
        unregister()
    assert seen == {"classifier": "cpu", "metrics": "cpu"}
