"""Which precision ``auto`` picks: fp32 on CPU (measured faster there), never fp16 without CUDA."""

import pytest
import torch

from augdiff.errors import AugdiffError
from augdiff.training.precision import resolve_precision


def test_auto_is_fp32_on_cpu_and_bf16_runs_on_request() -> None:
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu).name == "fp32" and resolve_precision("auto", cpu).dtype is None
    bf16 = resolve_precision("bf16", cpu)
    with bf16.autocast():
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.bfloat16
    with pytest.raises(AugdiffError, match="fp16"):
        resolve_precision("fp16", cpu)
    with pytest.raises(AugdiffError, match="unknown"):
        resolve_precision("fp8", cpu)
