"""The plugin registry: every hook documented and exercised, restriction, broken and clashing plugins."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from augdiff import hookspecs, plugins
from augdiff.cli import create_app
from augdiff.data.spec import Dataset, DatasetSpec, Split
from augdiff.generator import Generator, Samples, one_hot
from augdiff.hookspecs import hookimpl

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "plugins.md"
EXAMPLE = ROOT / "docs" / "examples" / "augdiff-mixup"
HOOKS = sorted(n for n in dir(hookspecs) if n.startswith("register_"))


@pytest.fixture
def fresh_plugins(monkeypatch: pytest.MonkeyPatch):
    """Registers test plugins / fake installed distributions and restores the real registry afterwards."""
    added_paths: list[str] = []
    registered: list[str] = []

    def register(obj: object, name: str) -> None:
        plugins.load_plugins()
        plugins.pm.register(obj, name=name)
        registered.append(name)

    def install(site: Path) -> None:
        sys.path.insert(0, str(site))
        added_paths.append(str(site))

    yield SimpleNamespace(register=register, install=install)
    for name in registered:
        if plugins.pm.get_plugin(name) is not None:
            plugins.pm.unregister(name=name)
    for path in added_paths:
        sys.path.remove(path)
        for mod in [m for m, v in sys.modules.items() if (getattr(v, "__file__", "") or "").startswith(path)]:
            del sys.modules[mod]
    monkeypatch.delenv(plugins.ENV_LOAD, raising=False)
    plugins.reload_plugins()


def fake_distribution(site: Path, dist: str, entry_points: dict[str, str], modules: dict[str, str]) -> Path:
    """An installed distribution as importlib.metadata sees it: a dist-info folder plus its modules."""
    info = site / f"{dist.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(
        "[augdiff]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    )
    for name, source in modules.items():
        (site / f"{name}.py").write_text(source)
    return site


class Constant(Generator):
    name = "constant-test"
    description = "test generator"
    profiles = {"smoke": {"image_size": 8, "value": 7}}

    def fit(self, train_set, workdir, *, seed, progress=None):  # type: ignore[no-untyped-def]
        pass

    def generate(self, n, *, cls=None, seed=0, progress=None):  # type: ignore[no-untyped-def]
        labels = [c for c, k in self.split_counts(n, cls) for _ in range(k)]
        return Samples(np.full((n, 8, 8, 3), self.config["value"], np.uint8), one_hot(labels, len(self.classes)))


def _tiny_dataset(options) -> Dataset:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    splits = {}
    for name, n in (("train", 6), ("val", 2), ("test", 2)):
        labels = np.array([0, 1] * (n // 2))
        splits[name] = Split(name, ["a", "b"], rng.integers(0, 255, (n, 8, 8, 3), dtype=np.uint8), labels,
                             [f"{name}/{i}" for i in range(n)])
    return Dataset("tiny-test", ["a", "b"], splits)


def _list(runner) -> dict:  # type: ignore[no-untyped-def]
    result = runner.invoke(create_app(), ["list", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_every_hook_is_documented_with_its_signature() -> None:
    text = DOCS.read_text()
    assert HOOKS == ["register_classifiers", "register_commands", "register_datasets", "register_generators"]
    for hook in HOOKS:
        arg = "app" if hook == "register_commands" else "register"
        assert f"### `{hook}({arg})`" in text, f"{hook} is not documented in docs/plugins.md"
        assert re.search(rf"def {hook}\({arg}: ", text), f"{hook}'s typed signature is missing from the docs"


def test_every_hook_has_a_test() -> None:
    for hook in HOOKS:
        assert callable(globals().get(f"test_hook_{hook}")), f"no test_hook_{hook} in {__file__}"


def test_docs_show_the_example_plugin_verbatim() -> None:
    text = DOCS.read_text()
    for name in ("pyproject.toml", "augdiff_mixup.py"):
        assert (EXAMPLE / name).read_text() in text, f"docs/plugins.md is out of date with {name}"
    assert len((EXAMPLE / "augdiff_mixup.py").read_text().splitlines()) < 50


def test_hook_register_generators(fresh_plugins, runner) -> None:  # type: ignore[no-untyped-def]
    class Plugin:
        @hookimpl
        def register_generators(self, register):  # type: ignore[no-untyped-def]
            register(Constant)

    fresh_plugins.register(Plugin(), "constant-plugin")
    gens = {g["name"]: g for g in _list(runner)["generators"]}
    assert gens["constant-test"]["plugin"] == "constant-plugin"
    assert plugins.get_generator("constant-test") is Constant


def test_hook_register_datasets(fresh_plugins, runner) -> None:  # type: ignore[no-untyped-def]
    class Plugin:
        @hookimpl
        def register_datasets(self, register):  # type: ignore[no-untyped-def]
            register(DatasetSpec("tiny-test", _tiny_dataset, "six images"))

    fresh_plugins.register(Plugin(), "tiny-data-plugin")
    datasets = {d["name"]: d for d in _list(runner)["datasets"]}
    assert datasets["tiny-test"]["plugin"] == "tiny-data-plugin"
    from augdiff.data import DataOptions, load_dataset

    assert load_dataset("tiny-test", DataOptions()).train.counts() == {"a": 3, "b": 3}


def test_hook_register_classifiers(fresh_plugins, runner) -> None:  # type: ignore[no-untyped-def]
    import torch

    spec = SimpleNamespace(name="linear-test", description="a linear probe",
                           build=lambda num_classes, image_size, pretrained: torch.nn.LazyLinear(num_classes))

    class Plugin:
        @hookimpl
        def register_classifiers(self, register):  # type: ignore[no-untyped-def]
            register(spec)

    fresh_plugins.register(Plugin(), "linear-plugin")
    classifiers = {c["name"]: c for c in _list(runner)["classifiers"]}
    assert classifiers["linear-test"]["plugin"] == "linear-plugin"
    assert plugins.get_classifier("linear-test") is spec


def test_hook_register_commands(fresh_plugins, runner) -> None:  # type: ignore[no-untyped-def]
    class Plugin:
        @hookimpl
        def register_commands(self, app):  # type: ignore[no-untyped-def]
            @app.command()
            def hello(name: str) -> None:
                print(f"hello {name}")

    fresh_plugins.register(Plugin(), "hello-plugin")
    result = runner.invoke(create_app(), ["hello", "pathologist"])
    assert result.exit_code == 0 and "hello pathologist" in result.stdout


def test_two_plugins_with_one_name_is_an_error_naming_both(fresh_plugins, runner) -> None:  # type: ignore[no-untyped-def]
    class First:
        @hookimpl
        def register_generators(self, register):  # type: ignore[no-untyped-def]
            register(Constant)

    class Second:
        @hookimpl
        def register_generators(self, register):  # type: ignore[no-untyped-def]
            register(Constant)

    fresh_plugins.register(First(), "first-plugin")
    fresh_plugins.register(Second(), "second-plugin")
    result = runner.invoke(create_app(), ["list"])
    assert result.exit_code == 2
    assert "constant-test" in result.output and "first-plugin" in result.output
    assert "second-plugin" in result.output and "Traceback" not in result.output


def test_broken_plugin_warns_and_is_skipped(fresh_plugins, runner, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    fresh_plugins.install(fake_distribution(
        tmp_path / "site", "augdiff-broken", {"broken": "augdiff_broken_test"},
        {"augdiff_broken_test": "raise ImportError('needs a library you do not have')\n"},
    ))
    plugins.reload_plugins()
    warning = capsys.readouterr().err
    assert "skipping plugin 'broken'" in warning and "needs a library" in warning
    assert len(warning.strip().splitlines()) == 1
    result = runner.invoke(create_app(), ["list", "--json"])
    assert result.exit_code == 0
    assert "stain-jitter" in {g["name"] for g in json.loads(result.stdout)["generators"]}


def test_load_plugins_env_restricts(fresh_plugins, runner, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv(plugins.ENV_LOAD, "stain-jitter")
    plugins.reload_plugins()
    inv = _list(runner)
    assert [g["name"] for g in inv["generators"]] == ["stain-jitter"]
    assert "synth-histo" in {d["name"] for d in inv["datasets"]}, "core datasets always load"
    monkeypatch.setenv(plugins.ENV_LOAD, "")
    plugins.reload_plugins()
    assert _list(runner)["generators"] == []


@pytest.mark.slow
def test_documented_example_plugin_installs_lists_and_generates(fresh_plugins, runner, tmp_path) -> None:  # type: ignore[no-untyped-def]
    source = (EXAMPLE / "augdiff_mixup.py").read_text()
    fresh_plugins.install(fake_distribution(tmp_path / "site", "augdiff-mixup", {"mixup": "augdiff_mixup"},
                                            {"augdiff_mixup": source}))
    plugins.reload_plugins()
    gens = {g["name"]: g for g in _list(runner)["generators"]}
    assert gens["mixup"]["plugin"] == "mixup"
    assert {"stain-jitter", "mixup"} <= set(gens)
    out = tmp_path / "mixup-set"
    result = runner.invoke(create_app(), ["augment", "--generator", "mixup", "--data", "synth-histo",
                                          "--profile", "smoke", "--n", "12", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(records) == 12 and len(list((out / "images").glob("*.png"))) == 12
    assert all(abs(sum(r["probs"].values()) - 1) < 1e-5 for r in records)
    assert any(0.5 <= r["level"] < 1 for r in records), "mixup should produce genuinely soft labels"
