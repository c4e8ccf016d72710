"""The image tensors the trainer consumes and the denoising loss it minimises."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from augdiff.diffusion import DiffusionLoss, ImageTensorDataset, epsilon_loss, make_schedule, to_uint8_images


def images(n: int = 6) -> np.ndarray:
    return (np.random.default_rng(0).random((n, 4, 5, 3)) * 255).astype(np.uint8)


def test_dataset_maps_uint8_to_minus_one_one_and_back() -> None:
    raw = images()
    ds = ImageTensorDataset(raw, labels=np.arange(6) % 2)
    x, y = ds[4]
    assert x.shape == (3, 4, 5) and x.dtype == torch.float32 and int(y) == 0
    assert float(x.min()) >= -1 and float(x.max()) <= 1
    batch, labels = next(iter(DataLoader(ds, batch_sampler=[[0, 4, 5]])))
    assert batch.shape == (3, 3, 4, 5) and labels.tolist() == [0, 0, 1]
    np.testing.assert_array_equal(to_uint8_images(batch), raw[[0, 4, 5]])
    assert not isinstance(ImageTensorDataset(raw)[0], tuple)


def test_hflip_mirrors_about_half_of_the_items_from_the_global_rng() -> None:
    raw = images(200)
    ds = ImageTensorDataset(raw, hflip=True)
    torch.manual_seed(0)
    flipped = to_uint8_images(torch.stack(ds.__getitems__(list(range(200)))))
    mirrored = [(f == r[:, ::-1]).all() and not (f == r).all() for f, r in zip(flipped, raw)]
    assert 70 < sum(mirrored) < 130
    assert all((f == r).all() or (f == r[:, ::-1]).all() for f, r in zip(flipped, raw))
    torch.manual_seed(0)
    np.testing.assert_array_equal(to_uint8_images(torch.stack(ds.__getitems__(list(range(200))))), flipped)


def test_dataset_rejects_what_is_not_uint8_nhwc() -> None:
    with pytest.raises(ValueError, match="uint8"):
        ImageTensorDataset(np.zeros((2, 4, 4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="labels"):
        ImageTensorDataset(images(), labels=np.arange(3))


@pytest.mark.parametrize(
    ("prediction_type", "loss"), [("epsilon", "mse"), ("v", "mse"), ("epsilon", "huber")]
)
def test_epsilon_loss_draws_t_and_noise_from_the_generator(prediction_type: str, loss: str) -> None:
    schedule = make_schedule("cosine", 100)
    x0 = torch.rand(4, 3, 5, 5) * 2 - 1
    seen = {}

    def model(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        seen["t"] = t
        return torch.zeros(x_t.shape[0], 6, *x_t.shape[2:])  # 2C channels: only the first C count

    value = epsilon_loss(
        model, schedule, x0, torch.Generator().manual_seed(9), loss=loss, prediction_type=prediction_type
    )
    g = torch.Generator().manual_seed(9)
    t = torch.randint(0, 100, (4,), generator=g)
    noise = torch.randn(x0.shape, generator=g)
    assert torch.equal(seen["t"], t)
    target = schedule.training_target(x0, noise, t, prediction_type)
    expected = (
        F.mse_loss(torch.zeros_like(x0), target)
        if loss == "mse"
        else F.smooth_l1_loss(torch.zeros_like(x0), target)
    )
    torch.testing.assert_close(value, expected)


def test_diffusion_loss_passes_labels_to_conditional_models() -> None:
    schedule = make_schedule("linear", 10)
    got = {}

    def model(x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        got["y"] = y
        return torch.zeros_like(x)

    labels = torch.tensor([1, 0])
    DiffusionLoss(schedule, class_conditional=True)(
        model, (torch.zeros(2, 3, 2, 2), labels), torch.Generator().manual_seed(0)
    )
    assert torch.equal(got["y"], labels)
    with pytest.raises(ValueError, match="loss must be one of"):
        epsilon_loss(model, schedule, torch.zeros(1, 3, 2, 2), torch.Generator(), loss="l1")
