"""Bad inputs in a data folder (issue 13): huge images, symlinks, hidden and oddly named folders, Kaggle ids."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from data_helpers import flat_folder, write_images
from PIL import Image

from augdiff.cli import app
from augdiff.data import DataOptions, load_dataset
from augdiff.data.folder import load_folder
from augdiff.data.imageio import printable
from augdiff.errors import AugdiffError

OPTIONS = DataOptions(train_per_class=2)


def _one_line_exit_2(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.output, result.output
    return lines[0]


@pytest.mark.parametrize("side", [12, 16])  # PIL warns above the limit and refuses above twice it
def test_image_over_the_decompression_bomb_limit_is_named(side: int, tmp_path: Path, monkeypatch, runner) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 8x8 images pass, 12x12 and 16x16 do not
    root = flat_folder(tmp_path / "d", {"a": 4, "b": 4})
    (big,) = write_images(root / "b", 1, size=side, start=50)
    with pytest.raises(AugdiffError) as info:
        load_folder(root, OPTIONS)
    message = str(info.value)
    assert message.startswith(f"{big}: the image") and "decompression-bomb limit of 100 pixels" in message
    assert "crop it into patches, or move it out of the data folder" in message
    line = _one_line_exit_2(runner.invoke(app, ["data", "info", "--data", "folder", "--data-root", str(root),
                                                "--train-per-class", "2"]))
    assert str(big) in line and "decompression-bomb" in line


def test_symlinked_folders_are_followed_and_loops_read_once(tmp_path: Path) -> None:
    root = flat_folder(tmp_path / "d", {"a": 2, "b": 4})
    write_images(tmp_path / "elsewhere", 2, start=10)
    os.symlink(tmp_path / "elsewhere", root / "a" / "more")  # a symlinked image folder inside a class
    os.symlink(root / "a", root / "a" / "loop")  # a loop back to the class folder itself
    write_images(tmp_path / "c-images", 4, seed=7)
    os.symlink(tmp_path / "c-images", root / "c")  # a symlinked class folder
    ds = load_folder(root, OPTIONS)
    counts = {c: sum(s.counts()[c] for s in ds.splits.values()) for c in ds.classes}
    assert counts == {"a": 4, "b": 4, "c": 4}
    ids = [i for s in ds.splits.values() for i in s.ids]
    assert sum(i.startswith("a/more/") for i in ids) == 2 and not any("loop" in i for i in ids)
    assert any(f"skipped {root / 'a' / 'loop'}: the same folder as {root / 'a'}" in n for n in ds.notes)


def test_hidden_class_folders_are_skipped_with_a_note(tmp_path: Path) -> None:
    root = flat_folder(tmp_path / "d", {"a": 4, "b": 4})
    write_images(root / ".c", 4)
    ds = load_folder(root, OPTIONS)
    assert ds.classes == ["a", "b"]
    assert f"skipped hidden folder(s) .c in {root}: names starting with '.' are not classes" in ds.notes


def test_control_characters_in_folder_names_never_reach_the_terminal(tmp_path: Path, runner) -> None:  # type: ignore[no-untyped-def]
    root = flat_folder(tmp_path / "d", {"a": 4, "tu\x1b[31mmor": 4})
    with pytest.raises(AugdiffError, match=r"tu\\x1b\[31mmor: this class folder's name has control characters"):
        load_folder(root, OPTIONS)
    line = _one_line_exit_2(runner.invoke(app, ["data", "info", "--data", "folder", "--data-root", str(root)]))
    assert "\x1b" not in line and "tu\\x1b[31mmor" in line
    missing = tmp_path / "no\x07such\rfolder"
    line = _one_line_exit_2(runner.invoke(app, ["data", "info", "--data", "folder", "--data-root", str(missing)]))
    assert "no\\x07such\\rfolder: no such folder" in line and "\x07" not in line and "\r" not in line
    assert printable("plain näme") == "plain näme"


@pytest.mark.parametrize("bad_id", ["../../x", "/etc/passwd", "sub/x", "..", ""])
def test_kaggle_id_that_is_a_path_is_refused(bad_id: str, tmp_path: Path, runner) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "kaggle"
    paths = write_images(root / "train", 12, ext="tif")
    write_images(tmp_path, 1, ext="tif")  # a readable image outside the data root, where ../../x might lead
    rows = ["id,label"] + [f"{p.stem},{i % 2}" for i, p in enumerate(paths)] + [f"{bad_id},1"]
    (root / "train_labels.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(AugdiffError) as info:
        load_dataset("pcam", DataOptions(root=root, train_per_class=2))
    assert str(info.value) == (
        f"{root / 'train_labels.csv'}: line 14: id {bad_id!r} is not a plain file name; Kaggle ids name files "
        "train/<id>.tif, so fix or remove that row"
    )
    _one_line_exit_2(runner.invoke(app, ["data", "info", "--data", "pcam", "--data-root", str(root)]))
