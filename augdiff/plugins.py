"""Load plugins (built-in and third-party alike) from the ``augdiff`` entry-point group and expose registries.

Built-in generators live in ``plugins/`` and are registered in augdiff's own pyproject, so the core reaches them
exactly as it reaches a third-party package: through entry points, never by importing them by name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Generic, TypeVar

import pluggy
from rich.console import Console

from augdiff import hookspecs
from augdiff.errors import AugdiffError

GROUP = "augdiff"
ENV_LOAD = "AUGDIFF_LOAD_PLUGINS"
T = TypeVar("T")

pm = pluggy.PluginManager(GROUP)
pm.add_hookspecs(hookspecs)
_loaded = False
_stderr = Console(stderr=True)


def _wanted(ep: metadata.EntryPoint) -> bool:
    """``AUGDIFF_LOAD_PLUGINS=a,b`` keeps only those entry points; augdiff's own core modules always load."""
    if ep.value.split(":")[0].split(".")[0] == "augdiff":
        return True
    allowed = os.environ.get(ENV_LOAD)
    if allowed is None:
        return True
    names = {n.strip() for n in allowed.split(",") if n.strip()}
    dist = getattr(ep, "dist", None)
    return ep.name in names or (dist is not None and dist.name in names)


def load_plugins() -> None:
    """Import every wanted entry point once; a plugin that fails to import is a warning, not a crash."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for ep in sorted(metadata.entry_points(group=GROUP), key=lambda e: e.name):
        if not _wanted(ep) or pm.get_plugin(ep.name) is not None:
            continue
        try:
            module = ep.load()
            pm.register(module, name=ep.name)
        except Exception as exc:  # a broken third-party plugin must not take augdiff down with it
            if os.environ.get("AUGDIFF_DEBUG"):
                raise
            _stderr.print(
                f"[yellow]warning:[/] skipping plugin '{ep.name}' ({ep.value}): {type(exc).__name__}: {exc}",
                highlight=False,
                soft_wrap=True,
            )


def reload_plugins() -> None:
    """Forget entry-point plugins and load them again (after installing one, or changing AUGDIFF_LOAD_PLUGINS)."""
    global _loaded
    for name, _ in list(pm.list_name_plugin()):
        pm.unregister(name=name)
    _loaded = False
    load_plugins()


@dataclass(frozen=True)
class Registered(Generic[T]):
    name: str
    obj: T
    plugin: str


def _collect(hook_name: str) -> dict[str, Registered[Any]]:
    load_plugins()
    found: dict[str, Registered[Any]] = {}
    hook = getattr(pm.hook, hook_name)
    for impl in hook.get_hookimpls():
        plugin = impl.plugin_name

        def register(obj: Any, _plugin: str = plugin) -> None:
            name = obj.name
            if name in found and found[name].plugin != _plugin:
                kind = hook_name.removeprefix("register_").rstrip("s")
                raise AugdiffError(
                    f"{kind} '{name}' is registered by both plugin '{found[name].plugin}' and plugin "
                    f"'{_plugin}': uninstall one, or choose with {ENV_LOAD}"
                )
            found[name] = Registered(name, obj, _plugin)

        impl.function(register=register)
    return dict(sorted(found.items()))


def generators() -> dict[str, Registered[Any]]:
    return _collect("register_generators")


def datasets() -> dict[str, Registered[Any]]:
    return _collect("register_datasets")


def classifiers() -> dict[str, Registered[Any]]:
    return _collect("register_classifiers")


def _get(kind: str, table: dict[str, Registered[Any]], name: str, option: str) -> Any:
    if name not in table:
        known = ", ".join(table) or "none installed"
        raise AugdiffError(f"{option}: unknown {kind} '{name}'; known {kind}s: {known}")
    return table[name].obj


def get_generator(name: str) -> Any:
    return _get("generator", generators(), name, "--generator")


def get_dataset(name: str) -> Any:
    return _get("dataset", datasets(), name, "--data")


def get_classifier(name: str) -> Any:
    return _get("classifier", classifiers(), name, "--classifier")


def register_commands(app: Any) -> None:
    load_plugins()
    pm.hook.register_commands(app=app)

