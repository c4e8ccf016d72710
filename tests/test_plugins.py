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


def _plugin(**hooks):  # type: ignore[no-untyped-def]
    """A plugin object whose hooks run the given functions (e.g. ``register_generators=lambda register: …``)."""
    return type("Plugin", (), {name: hookimpl(staticmethod(fn)) for name, fn in hooks.items()})()


def _one_warning(output: str, *parts: str) -> None:
    lines = [line for line in output.splitlines() if line.startswith("warning:")]
    assert len(lines) == 1, output
    assert all(p in lines[0] for p in parts), lines[0]
    assert "Traceback" not in output


def test_two_plugins_with_one_name_warn_naming_both_and_keep_the_first(fresh_plugins, runner) -> None:  # type: ignore[no-untyped-def]
    class Other(Constant):
        pass

    fresh_plugins.register(_plugin(register_generators=lambda register: register(Constant)), "first-plugin")
    fresh_plugins.register(_plugin(register_generators=lambda register: register(Other)), "second-plugin")
    result = runner.invoke(create_app(), ["list"])
    assert result.exit_code == 0, result.output
    _one_warning(result.output, "constant-test", "'first-plugin'", "'second-plugin'", "keeping")
    assert plugins.get_generator("constant-test") is Constant
    assert plugins.generators()["constant-test"].plugin == "first-plugin"


def test_one_plugin_registering_a_name_twice_warns_and_keeps_the_first(fresh_plugins, runner) -> None:  # type: ignore[no-untyped-def]
    class Other(Constant):
        pass

    def register_twice(register):  # type: ignore[no-untyped-def]
        register(Constant)
        register(Other)

    fresh_plugins.register(_plugin(register_generators=register_twice), "twice-plugin")
    result = runner.invoke(create_app(), ["list", "--json"])
    assert result.exit_code == 0, result.output
    _one_warning(result.stderr, "constant-test", "twice by plugin 'twice-plugin'")
    assert plugins.get_generator("constant-test") is Constant


def test_nameless_registration_warns_naming_the_plugin(fresh_plugins, runner) -> None:  # type: ignore[no-untyped-def]
    class Nameless:
        description = "no name attribute"

    def register(register):  # type: ignore[no-untyped-def]
        register(Nameless)
        register(SimpleNamespace(name="", description="empty name"))
        register(Constant)

    fresh_plugins.register(_plugin(register_generators=register), "nameless-plugin")
    result = runner.invoke(create_app(), ["list", "--json"])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2 and all("plugin 'nameless-plugin'" in w and "without a name" in w for w in warnings)
    names = {g["name"] for g in json.loads(result.stdout)["generators"]}
    assert "constant-test" in names and "stain-jitter" in names and "" not in names


@pytest.mark.parametrize("hook", ["register_generators", "register_datasets", "register_classifiers"])
def test_raising_hook_warns_and_the_rest_works(hook: str, fresh_plugins, runner) -> None:  # type: ignore[no-untyped-def]
    def broken(register):  # type: ignore[no-untyped-def]
        register(Constant)  # dropped with the hook that raised
        raise RuntimeError("plugin bug")

    fresh_plugins.register(_plugin(**{hook: broken}), "raising-plugin")
    result = runner.invoke(create_app(), ["list", "--json"])
    assert result.exit_code == 0, result.output
    _one_warning(result.stderr, "plugin 'raising-plugin'", hook, "RuntimeError: plugin bug")
    inv = json.loads(result.stdout)
    assert "constant-test" not in {g["name"] for g in inv["generators"]}
    assert "stain-jitter" in {g["name"] for g in inv["generators"]}
    assert "synth-histo" in {d["name"] for d in inv["datasets"]}


def test_raising_command_hook_leaves_help_working(fresh_plugins, runner, capsys) -> None:  # type: ignore[no-untyped-def]
    def broken(app):  # type: ignore[no-untyped-def]
        raise SystemExit(5)

    fresh_plugins.register(_plugin(register_commands=broken), "exiting-commands")
    app = create_app()
    _one_warning(capsys.readouterr().err, "plugin 'exiting-commands'", "register_commands", "sys.exit(5)")
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "fit" in result.output


def test_debug_reraises_a_raising_hook(fresh_plugins, runner, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def broken(register):  # type: ignore[no-untyped-def]
        raise RuntimeError("plugin bug")

    fresh_plugins.register(_plugin(register_generators=broken), "raising-plugin")
    monkeypatch.setenv("AUGDIFF_DEBUG", "1")
    with pytest.raises(RuntimeError, match="plugin bug"):
        plugins.generators()


def test_plugin_calling_sys_exit_at_import_is_a_warning(fresh_plugins, runner, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    fresh_plugins.install(fake_distribution(
        tmp_path / "site", "augdiff-quitter", {"quitter": "augdiff_quitter_test"},
        {"augdiff_quitter_test": "import sys\nsys.exit('no GPU, giving up')\n"},
    ))
    plugins.reload_plugins()
    _one_warning(capsys.readouterr().err, "skipping plugin 'quitter'", "sys.exit('no GPU, giving up')")
    result = runner.invoke(create_app(), ["list", "--json"])
    assert result.exit_code == 0
    assert "stain-jitter" in {g["name"] for g in json.loads(result.stdout)["generators"]}


def test_load_plugins_env_naming_no_plugin_warns(fresh_plugins, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv(plugins.ENV_LOAD, "stain-jitter,nonexistent")
    plugins.reload_plugins()
    _one_warning(capsys.readouterr().err, plugins.ENV_LOAD, "'nonexistent'", "no installed plugin", "stain-jitter")
    assert list(plugins.generators()) == ["stain-jitter"]


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
