"""LPIPS diversity: loads its trunk only from a local file, says which file it needs, never downloads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from augdiff.metrics import evaluate_images, lpips_div

pytest.importorskip("lpips")


@pytest.fixture
def empty_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    monkeypatch.delenv(lpips_div.ENV_LPIPS_BACKBONE, raising=False)
    return hub


def _images(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 16, 16, 3), dtype=np.uint8)


def test_missing_backbone_is_unavailable_and_names_the_file(empty_hub: Path) -> None:
    out = evaluate_images(_images(0, 4), _images(1, 4), metrics=["lpips_diversity"])["lpips_diversity"]
    expected = empty_hub / "checkpoints" / "alexnet-owt-7be5be79.pth"
    assert out["unavailable"].startswith(f"needs FILE {expected}")
    assert not (empty_hub / "checkpoints").exists()  # nothing was fetched


def test_local_backbone_is_loaded_and_diversity_behaves(empty_hub: Path) -> None:
    from torchvision.models import alexnet

    torch.manual_seed(0)
    trunk = alexnet(weights=None)
    path = lpips_div.default_backbone_path("alex")
    path.parent.mkdir(parents=True)
    # Only the convolutional trunk is read; leaving out the 230 MB classifier keeps the test light.
    torch.save({k: v for k, v in trunk.state_dict().items() if k.startswith("features.")}, path)

    model = lpips_div.load_lpips("alex", str(lpips_div.resolve_backbone("alex")))
    torch.testing.assert_close(model.net.slice1[0].weight, trunk.features[0].weight)
    torch.testing.assert_close(getattr(model.net.slice5, "10").bias, trunk.features[10].bias)

    same = np.repeat(_images(2, 1), 5, axis=0)
    varied = _images(3, 5)
    kw = {"metrics": ["lpips_diversity"], "lpips_backbone": path}
    identical = evaluate_images(_images(4, 3), same, **kw)["lpips_diversity"]
    diverse = evaluate_images(_images(4, 3), varied, **kw)["lpips_diversity"]
    assert identical["value"] == pytest.approx(0.0, abs=1e-7)
    assert diverse["value"] > 0.01 and diverse["pairs"] == 10 and diverse["n_fake"] == 5


def test_pairs_are_all_pairs_when_few_and_distinct_samples_when_many() -> None:
    rng = np.random.default_rng(0)
    assert len(lpips_div.sample_pairs(5, 100, rng)) == 10
    many = lpips_div.sample_pairs(200, 300, rng)
    assert len(many) == 300 and len({tuple(p) for p in many}) == 300 and (many[:, 0] < many[:, 1]).all()
