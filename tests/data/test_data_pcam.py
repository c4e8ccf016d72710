from __future__ import annotations

import gzip
from pathlib import Path

import h5py
import numpy as np
import pytest
from data_helpers import flat_folder, write_images

from augdiff.data import DataOptions, load_dataset
from augdiff.data.pcam import h5_name
from augdiff.errors import AugdiffError


def _fake_h5(root: Path, n: dict[str, int], size: int = 12) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for k, (split, count) in enumerate(n.items()):
        y = np.arange(count) % 2
        # Encode the index in the pixels so the test can check that the right images were read.
        x = np.zeros((count, size, size, 3), np.uint8)
        x[:, 0, 0, 0] = np.arange(count) % 256
        x[:, 0, 0, 1] = k
        with h5py.File(root / h5_name(split, "x"), "w") as f:
            f.create_dataset("x", data=x, chunks=(1, size, size, 3))
        with h5py.File(root / h5_name(split, "y"), "w") as f:
            f.create_dataset("y", data=y.reshape(-1, 1, 1, 1).astype(np.uint8))


def test_hdf5_official_split_capped(tmp_path: Path) -> None:
    _fake_h5(tmp_path / "pcam", {"train": 40, "val": 20, "test": 30})
    ds = load_dataset("pcam", DataOptions(root=tmp_path / "pcam", train_per_class=10, seed=1))
    assert ds.classes == ["normal", "tumor"]
    assert ds.train.counts() == {"normal": 10, "tumor": 10}
    assert ds.val.counts() == {"normal": 3, "tumor": 3}  # 0.3 x train_per_class
    assert ds.test.counts() == {"normal": 6, "tumor": 6}  # 0.6 x train_per_class
    for split, k in (("train", 0), ("val", 1), ("test", 2)):
        s = ds.splits[split]
        index = np.array([int(i.split("/")[1]) for i in s.ids])
        np.testing.assert_array_equal(s.images[:, 0, 0, 0], index % 256)
        assert (s.images[:, 0, 0, 1] == k).all()
        np.testing.assert_array_equal(s.labels, index % 2)
    assert "train: kept a seeded sample of 10 of the 20 'normal' images" in ds.notes


def test_hdf5_reads_from_data_root_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_h5(tmp_path / "pcam", {"train": 8, "val": 6, "test": 6})
    monkeypatch.setenv("AUGDIFF_DATA_ROOT", str(tmp_path))
    ds = load_dataset("pcam", DataOptions(train_per_class=4, crop=8, size=4))
    assert ds.image_size == 4 and len(ds.train) == 8


def test_kaggle_layout_is_split_like_a_flat_folder(tmp_path: Path) -> None:
    root = tmp_path / "kaggle"
    paths = write_images(root / "train", 30, size=10, ext="tif")
    rows = ["id,label"] + [f"{p.stem},{i % 2}" for i, p in enumerate(paths)]
    (root / "train_labels.csv").write_text("\n".join(rows) + "\n")
    ds = load_dataset("pcam", DataOptions(root=root, train_per_class=5))
    assert ds.train.counts() == {"normal": 5, "tumor": 5}
    assert ds.val.counts() == {"normal": 2, "tumor": 2} and ds.test.counts() == {"normal": 3, "tumor": 3}
    assert ds.image_size == 10
    all_ids = [i for s in ds.splits.values() for i in s.ids]
    assert len(set(all_ids)) == len(all_ids)


def test_pcam_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUGDIFF_DATA_ROOT", raising=False)
    with pytest.raises(
        AugdiffError, match=r"--data pcam: no data folder given; put camelyonpatch_level_2_split_"
    ):
        load_dataset("pcam", DataOptions())
    gz = tmp_path / "gz"
    gz.mkdir()
    with gzip.open(gz / "camelyonpatch_level_2_split_train_x.h5.gz", "wb") as f:
        f.write(b"x")
    with pytest.raises(AugdiffError, match=r"still gzipped; run `gunzip"):
        load_dataset("pcam", DataOptions(root=gz))
    partial = tmp_path / "partial"
    _fake_h5(partial, {"train": 8, "val": 6, "test": 6})
    (partial / h5_name("test", "x")).unlink()
    with pytest.raises(AugdiffError, match=r"missing camelyonpatch_level_2_split_test_x.h5"):
        load_dataset("pcam", DataOptions(root=partial))
    broken = tmp_path / "broken"
    _fake_h5(broken, {"train": 8, "val": 6, "test": 6})
    (broken / h5_name("val", "y")).write_bytes(b"not hdf5")
    with pytest.raises(AugdiffError, match=r"split_valid_y.h5: cannot read the PCam labels"):
        load_dataset("pcam", DataOptions(root=broken, train_per_class=2))
    folder = flat_folder(tmp_path / "mini" / "train", {"a": 2, "b": 2}).parent
    with pytest.raises(AugdiffError, match=r"looks like an image-folder layout; use --data folder"):
        load_dataset("pcam", DataOptions(root=folder))
    kaggle = tmp_path / "k"
    write_images(kaggle / "train", 2, ext="tif")
    (kaggle / "train_labels.csv").write_text("name,y\na,1\n")
    with pytest.raises(AugdiffError, match=r"train_labels.csv: expected a header 'id,label'"):
        load_dataset("pcam", DataOptions(root=kaggle))
    (kaggle / "train_labels.csv").write_text("id,label\n" + "".join(f"x{i},{i % 2}\n" for i in range(10)))
    with pytest.raises(AugdiffError, match=r"x\d\.tif: listed in train_labels.csv but missing"):
        load_dataset("pcam", DataOptions(root=kaggle, train_per_class=2))
