"""``benchmark --generated NAME=DIR``: a generated set made elsewhere benchmarked as its own rows, nothing fitted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from augdiff.benchmark import external, protocol, recipes
from augdiff.benchmark.variants import Variant
from augdiff.cli import app
from augdiff.data.spec import DataOptions
from augdiff.errors import AugdiffError
from augdiff.generated_set import write_generated_set
from augdiff.generator import Samples, one_hot


def _class_folders(root: Path, per_class: dict[str, int], size: int = 24) -> Path:
    """Plain class folders as another tool would leave them: PNGs of a per-class mean colour plus noise."""
    rng = np.random.default_rng(7)
    for c, (cls, n) in enumerate(per_class.items()):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img = np.clip(80 + 90 * c + rng.normal(0, 20, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / cls / f"img{i:03d}.png")
    return root


def _opts(tmp_path: Path, generated: dict[str, Path], **changes) -> protocol.BenchmarkOptions:
    base = dict(data="tiny-data", data_options=DataOptions(seed=0), profile="smoke", sets=["mixed"], seeds=1,
                steps=2, out=tmp_path / "bench", runs_dir=tmp_path / "runs", metrics=[], generated=generated)
    return protocol.BenchmarkOptions(**{**base, **changes})


def test_cli_benchmarks_plain_class_folders_as_their_own_rows(runner, tmp_path, one_thread):
    # synth-histo at the smoke profile with 4 training images per class: `mixed` needs 4 generated per class.
    folder = _class_folders(tmp_path / "from-elsewhere", {"normal": 5, "tumor": 4})  # 24 px: resized to 16
    out = tmp_path / "out"
    args = ["benchmark", "--data", "synth-histo", "--profile", "smoke", "--train-per-class", "4",
            "--generated", f"mine={folder}", "--sets", "real,mixed", "--seeds", "1", "--steps", "2",
            "--metrics", "none", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "24x24 px images resized to 16 px" in result.output
    report = json.loads((out / "report.json").read_text())
    assert [s["name"] for s in report["sets"]] == ["real", "mine/mixed"]
    mine = report["sets"][1]
    # 4 + 4 real, then the first 4 images of each class folder (normal has a fifth, unused).
    assert mine["composition"]["real"] == 8 and mine["composition"]["generated"] == 8
    assert mine["composition"]["per_class"] == {"normal": 8, "tumor": 8}
    source = mine["source"]
    assert source["directory"] == str(folder.resolve()) and source["kind"] == "class folders"
    assert source["images"] == 9 and source["per_class"] == {"normal": 5, "tumor": 4}
    assert len(source["fingerprint"]) == 16 and source["fit"].startswith("none")
    assert mine["fit_seeds"] == 1 and "fit_runs" not in mine
    md = (out / "report.md").read_text()
    assert f"- `mine`: 9 images (9 distinct) from `{folder.resolve()}` (class folders)" in md
    assert f"fingerprint `{source['fingerprint']}`" in md and "| mine/mixed |" in md
    assert (out / "samples" / "mine.png").is_file()
    # Nothing was fitted or sampled: the runs folder holds no generator's fit or set.
    runs = Path(tmp_path / "runs" / "synth-histo")
    assert not runs.exists() or not any(runs.iterdir())
    manifest = [json.loads(line) for line in (out / "sets" / "mine__mixed.jsonl").read_text().splitlines()]
    generated = [r for r in manifest if r["origin"] == "generated"]
    assert {Path(r["file"]).name for r in generated} == {f"img{i:03d}.png" for i in range(4)}
    assert all(Path(r["file"]).is_file() and r["generator"] == "mine" for r in generated)

    # Cells are cached by the set's content: the same command reuses both; a changed image retrains its row only.
    again = runner.invoke(app, [*args, "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["cells_trained"] == 0
    Image.fromarray(np.zeros((24, 24, 3), np.uint8)).save(folder / "tumor" / "img000.png")
    changed = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert changed["cells_trained"] == 1 and changed["cells_reused"] == 1
    assert changed["sets"][1]["source"]["fingerprint"] != source["fingerprint"]


def test_an_augdiff_set_keeps_its_provenance_and_fits_nothing(tiny_plugin, tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 12)
    images = np.clip(np.where(labels == 1, 170, 80)[:, None, None, None] + rng.normal(0, 20, (24, 8, 8, 3)), 0, 255)
    write_generated_set(Samples(images.astype(np.uint8), one_hot(labels, 2)), tmp_path / "set",
                        classes=["normal", "tumor"], generator="other-tool", seed=3)
    from augdiff import workflow

    def no_fit(*args, **kwargs):
        raise AssertionError("a --generated set alone must fit and sample nothing")

    monkeypatch.setattr(workflow, "augment", no_fit)
    report = protocol.run_benchmark(_opts(tmp_path, {"theirs": tmp_path / "set"})).report
    assert [s["name"] for s in report["sets"]] == ["real", "theirs/mixed"]
    row = report["sets"][1]
    assert row["source"]["kind"] == "augdiff generated set" and row["source"]["made_by"]["generator"] == "other-tool"
    assert row["composition"]["generated"] == 24 and row["composition"]["distinct"] == 24
    assert report["generators"] == []  # no generator rows without --generators


def test_fit_seeds_leave_an_external_row_with_one_fit(tiny_plugin, tmp_path):
    folder = _class_folders(tmp_path / "folders", {"normal": 12, "tumor": 12}, size=16)
    report = protocol.run_benchmark(_opts(tmp_path, {"mine": folder}, generators=["tiny-gen"], fit_seeds=2)).report
    rows = {s["name"]: s for s in report["sets"]}
    assert list(rows) == ["real", "tiny-gen/mixed", "mine/mixed"]
    assert rows["tiny-gen/mixed"]["fit_seeds"] == 2 and len(rows["tiny-gen/mixed"]["cells"]) == 2
    assert rows["mine/mixed"]["fit_seeds"] == 1 and len(rows["mine/mixed"]["cells"]) == 1


def test_recipes_follow_the_labels():
    hard = external.ExternalSource("hard", Path("h"), external.CLASS_FOLDERS, soft=False)
    soft = external.ExternalSource("soft", Path("s"), external.AUGDIFF_SET, soft=True)
    plans = external.plan_sets(None, [hard, soft])
    names = [p.name for p in plans]
    assert names == ["hard/synthetic", "hard/mixed", "hard/aug-5000", "soft/progressive"]
    assert all(isinstance(p, recipes.SetPlan) for p in plans)
    with pytest.raises(AugdiffError, match=r"--generated soft=s: no recipe of --sets applies to it \(soft-labelled"):
        external.plan_sets(["real", "mixed"], [soft])


def test_bad_folders_fail_with_one_line_naming_them(tiny_plugin, tmp_path):
    good = _class_folders(tmp_path / "good", {"normal": 12, "tumor": 12}, size=16)

    def fails(generated: dict[str, Path], message: str, **changes) -> None:
        with pytest.raises(AugdiffError, match=message) as info:
            protocol.run_benchmark(_opts(tmp_path, generated, **changes))
        assert "\n" not in str(info.value)

    fails({"mine": tmp_path / "missing"}, r"--generated mine=.*missing: no such folder")
    (tmp_path / "empty").mkdir()
    fails({"mine": tmp_path / "empty"}, r"empty: neither an augdiff generated set \(no manifest.jsonl\) nor class")
    _class_folders(tmp_path / "stranger", {"normal": 12, "tumour": 12}, size=16)
    fails({"mine": tmp_path / "stranger"}, r"class folder 'tumour' is not a class of tiny-data \(its classes: "
          r"normal, tumor\)")
    for cls in ("normal", "tumor"):
        (tmp_path / "blank" / cls).mkdir(parents=True)
        (tmp_path / "blank" / cls / "notes.txt").write_text("no image here")
    fails({"mine": tmp_path / "blank"}, r"blank: no images \(.png")
    few = _class_folders(tmp_path / "few", {"normal": 12, "tumor": 5}, size=16)
    fails({"mine": few}, rf"recipe mixed needs 12 images of class tumor, {few} has 5")
    fails({"mine": good}, rf"recipe aug-5000 needs 5000 images, {good} has 24", sets=["aug-5000"])
    broken = _class_folders(tmp_path / "broken", {"normal": 12, "tumor": 12}, size=16)
    (broken / "tumor" / "img003.png").write_bytes(b"not a png")
    fails({"mine": broken}, r"broken/tumor/img003.png: cannot read this image")
    fails({"tiny-gen": good}, r"--generated tiny-gen=.*: tiny-gen is already a generator or variant name")
    fails({"loud": good}, r"--generated loud=.*: loud is already a generator or variant name",
          generators=["tiny-gen"], variants=[Variant("loud", "tiny-gen", {"noise": 40})])
    for bad in ("mine", "=dir", "my set=dir", "mine="):
        with pytest.raises(AugdiffError, match=r"--generated .*: expected NAME=DIR"):
            external.parse_generated([bad])
    with pytest.raises(AugdiffError, match="given twice"):
        external.parse_generated(["a=x", "a=y"])
