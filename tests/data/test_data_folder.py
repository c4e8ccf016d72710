from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from data_helpers import flat_folder, snapshot, split_folder, write_images
from PIL import Image

from augdiff.cli import app
from augdiff.data import DataOptions, load_dataset
from augdiff.data.folder import load_folder
from augdiff.errors import AugdiffError


def test_flat_folder_is_split_by_the_protocol(tmp_path: Path) -> None:
    root = flat_folder(tmp_path / "d", {"tumor": 11, "normal": 14})
    ds = load_folder(root, DataOptions(train_per_class=5, seed=3))
    assert ds.classes == ["normal", "tumor"]  # sorted folder names
    assert {s: ds.splits[s].counts() for s in ds.splits} == {
        "train": {"normal": 5, "tumor": 5},
        "val": {"normal": 3, "tumor": 2},
        "test": {"normal": 6, "tumor": 4},
    }
    ids = [i for s in ds.splits.values() for i in s.ids]
    assert len(set(ids)) == 25 and all(i.split("/")[0] in ds.classes for i in ids)
    # Pixels follow their file: the id names the image that was read.
    split = ds.train
    np.testing.assert_array_equal(split.images[0], np.asarray(Image.open(root / split.ids[0])))
    again = load_folder(root, DataOptions(train_per_class=5, seed=3))
    assert again.fingerprint() == ds.fingerprint()
    assert load_folder(root, DataOptions(train_per_class=5, seed=4)).fingerprint() != ds.fingerprint()


def test_official_split_is_kept_and_train_capped(tmp_path: Path) -> None:
    root = split_folder(
        tmp_path / "d",
        {
            "train": {"a": 9, "b": 4},
            "valid": {"a": 2, "b": 2},
            "test": {"a": 3, "b": 1},
        },
    )
    ds = load_folder(root, DataOptions(train_per_class=5, crop=6, size=3))
    assert ds.train.counts() == {"a": 5, "b": 4}
    assert ds.val.counts() == {"a": 2, "b": 2} and ds.test.counts() == {"a": 3, "b": 1}
    assert all(i.startswith("valid/") for i in ds.val.ids)
    assert ds.image_size == 3
    assert ds.notes == ["train: kept a seeded sample of 5 of the 9 'a' images"]


def test_conversions_and_skips_are_noted_once(tmp_path: Path) -> None:
    root = flat_folder(tmp_path / "d", {"a": 4, "b": 4})
    write_images(root / "a", 2, mode="L", start=10)
    write_images(root / "b", 1, mode="RGBA", start=10)
    write_images(root / "b", 2, size=10, start=20)
    (root / "a" / "readme.txt").write_text("not an image")
    (root / "b" / ".DS_Store").write_bytes(b"\0")
    ds = load_folder(root, DataOptions(train_per_class=2))
    assert ds.image_size == 8
    assert sorted(ds.notes) == sorted(
        [
            "skipped 2 non-image file(s), e.g. a/readme.txt",
            "converted 2 grayscale image(s) to RGB",
            "dropped the alpha channel of 1 image(s) (composited on white)",
            "resized 2 image(s) of other sizes to the most common size 8x8",
        ]
    )


def test_rgba_is_composited_on_white(tmp_path: Path) -> None:
    root = flat_folder(tmp_path / "d", {"a": 3, "b": 3})
    arr = np.zeros((8, 8, 4), np.uint8)  # fully transparent black
    for p in (root / "a").iterdir():
        Image.fromarray(arr, "RGBA").save(p)
    ds = load_folder(root, DataOptions(train_per_class=1))
    assert (ds.train.of_class(0).images == 255).all()


def _fails(root: Path, message: str, options: DataOptions | None = None) -> None:
    with pytest.raises(AugdiffError, match=message):
        load_folder(root, options or DataOptions(train_per_class=2))


def test_bad_layouts(tmp_path: Path) -> None:
    _fails(tmp_path / "nope", r"--data-root .*nope: no such folder; expected ROOT/<class>/")
    (tmp_path / "bare").mkdir()
    _fails(tmp_path / "bare", r"bare: no class folders found")
    one = flat_folder(tmp_path / "one", {"only": 5})
    _fails(one, r"only one class folder \('only'\); augdiff needs at least two classes")
    empty = flat_folder(tmp_path / "empty", {"a": 5, "b": 5})
    (empty / "c").mkdir()
    (empty / "c" / "notes.txt").write_text("x")
    _fails(empty, r"empty/c: no images \(.png .jpg .jpeg .tif .tiff .bmp\) in this class folder")
    few = flat_folder(tmp_path / "few", {"a": 5, "b": 3})
    _fails(few, r"class 'b' has 3 images but the split needs at least 4", DataOptions(train_per_class=2))
    noval = split_folder(tmp_path / "noval", {"train": {"a": 2, "b": 2}, "test": {"a": 2, "b": 2}})
    _fails(noval, r"noval: has test, train but no val folder")
    mism = split_folder(
        tmp_path / "mism", {"train": {"a": 2, "b": 2}, "val": {"a": 2, "c": 2}, "test": {"a": 2, "b": 2}}
    )
    _fails(mism, r"val: class folders a, c differ from a, b")


def test_corrupt_image_is_named(tmp_path: Path) -> None:
    root = flat_folder(tmp_path / "d", {"a": 4, "b": 4})
    (root / "b" / "img0002.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    _fails(root, r"b/img0002.png: cannot read this image .*; replace or delete the file")
    truncated = root / "a" / "img0001.png"
    truncated.write_bytes(truncated.read_bytes()[:40])
    _fails(root, r"cannot read this image")


def test_named_folder_datasets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUGDIFF_DATA_ROOT", raising=False)
    with pytest.raises(
        AugdiffError,
        match=r"--data rose: no data folder given; put the images in "
        r"DIR/\{normal,tumor\}/\*.png",
    ):
        load_dataset("rose", DataOptions())
    monkeypatch.setenv("AUGDIFF_DATA_ROOT", str(tmp_path))
    with pytest.raises(
        AugdiffError,
        match=r"prcc \(\$AUGDIFF_DATA_ROOT/prcc\) does not exist; put the images "
        r"there as .*prcc/\{type1,type2\}",
    ):
        load_dataset("prcc", DataOptions())
    flat_folder(tmp_path / "rose", {"normal": 4, "tumor": 4})
    ds = load_dataset("rose", DataOptions(train_per_class=2))
    assert ds.name == "rose" and ds.classes == ["normal", "tumor"]
    flat_folder(tmp_path / "prcc", {"pos": 4, "neg": 4})
    with pytest.raises(AugdiffError, match=r"--data prcc expects class folders type1, type2, found neg, pos"):
        load_dataset("prcc", DataOptions(train_per_class=2))
    with pytest.raises(AugdiffError, match=r"--data folder needs --data-root DIR"):
        load_dataset("folder", DataOptions())


# CLI: every bad input is one red line, exit code 2, and nothing is written.
BAD_INPUTS = {
    "missing root": (lambda d: d / "nope", "no such folder"),
    "empty class": (
        lambda d: (flat_folder(d / "x", {"a": 4}), (d / "x" / "b").mkdir(), d / "x")[2],
        "no images",
    ),
    "one class": (lambda d: flat_folder(d / "x", {"a": 4}), "only one class folder"),
    "corrupt": (
        lambda d: (
            flat_folder(d / "x", {"a": 4, "b": 4}),
            (d / "x" / "a" / "bad.jpg").write_bytes(b"nope"),
            d / "x",
        )[2],
        "bad.jpg: cannot read",
    ),
    "too few": (lambda d: flat_folder(d / "x", {"a": 4, "b": 1}), "needs at least 3"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_cli_bad_input(case: str, tmp_path: Path, runner) -> None:  # type: ignore[no-untyped-def]
    make, message = BAD_INPUTS[case]
    root = make(tmp_path / "data")
    (tmp_path / "out").mkdir()
    before = snapshot(tmp_path)
    for cmd in (["data", "info"], ["data", "preview", "--out", str(tmp_path / "out" / "grid.png")]):
        result = runner.invoke(
            app, [*cmd, "--data", "folder", "--data-root", str(root), "--train-per-class", "1"]
        )
        assert result.exit_code == 2, result.output
        lines = [ln for ln in result.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.output
    assert snapshot(tmp_path) == before
