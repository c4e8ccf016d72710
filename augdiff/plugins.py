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
from rich.text import Text

from augdiff import hookspecs
from augdiff.errors import AugdiffError

GROUP = "augdiff"
ENV_LOAD = "AUGDIFF_LOAD_PLUGINS"
T = TypeVar("T")

pm = pluggy.PluginManager(GROUP)
pm.add_hookspecs(hookspecs)
_loaded = False
_warned: set[str] = set()
_stderr = Console(stderr=True)


def _module_of(ep: metadata.EntryPoint) -> str:
    return ep.value.split(":")[0].split(".")[0]


def _allowed() -> set[str] | None:
    allowed = os.environ.get(ENV_LOAD)
    return None if allowed is None else {n.strip() for n in allowed.split(",") if n.strip()}


def _names(ep: metadata.EntryPoint) -> set[str]:
    """What ``AUGDIFF_LOAD_PLUGINS`` may call an entry point: its name or its distribution's."""
    dist = getattr(ep, "dist", None)
    return {ep.name} | ({dist.name} if dist is not None else set())


def _wanted(ep: metadata.EntryPoint) -> bool:
    """``AUGDIFF_LOAD_PLUGINS=a,b`` keeps only those entry points; augdiff's own core modules always load."""
    if _module_of(ep) == "augdiff":
        return True
    allowed = _allowed()
    return allowed is None or bool(_names(ep) & allowed)


def _debug() -> bool:
    return bool(os.environ.get("AUGDIFF_DEBUG"))


def _warn(message: str) -> None:
    """A yellow warning, once per process (the registries are collected again by every command)."""
    if message in _warned:
        return
    _warned.add(message)
    _stderr.print(Text.assemble(("warning: ", "yellow"), message), highlight=False, soft_wrap=True)


def _failure(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"it called sys.exit({exc.code!r})"
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


def load_plugins() -> None:
    """Import every wanted entry point once; a plugin that fails to import is a warning, not a crash."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    entry_points = sorted(metadata.entry_points(group=GROUP), key=lambda e: e.name)
    for ep in entry_points:
        if not _wanted(ep) or pm.get_plugin(ep.name) is not None:
            continue
        try:
            module = ep.load()
            pm.register(module, name=ep.name)
        except KeyboardInterrupt:
            raise
        # A broken third-party plugin must not take augdiff down with it, not even with sys.exit at import.
        except BaseException as exc:
            if _debug():
                raise
            _warn(f"skipping plugin '{ep.name}' ({ep.value}): {_failure(exc)}")
    allowed = _allowed()
    if allowed:
        known: set[str] = set().union(*map(_names, entry_points))
        for name in sorted(allowed - known):
            plugins = ", ".join(sorted(ep.name for ep in entry_points if _module_of(ep) != "augdiff"))
            _warn(f"{ENV_LOAD} names '{name}', but no installed plugin has that name; installed: "
                  f"{plugins or 'none'}")


def reload_plugins() -> None:
    """Forget entry-point plugins and load them again (after installing one, or changing AUGDIFF_LOAD_PLUGINS)."""
    global _loaded
    for name, _ in list(pm.list_name_plugin()):
        pm.unregister(name=name)
    _loaded = False
    _warned.clear()
    load_plugins()


@dataclass(frozen=True)
class Registered(Generic[T]):
    name: str
    obj: T
    plugin: str


def _collect(hook_name: str) -> dict[str, Registered[Any]]:
    """Everything registered through ``hook_name``; a plugin's mistakes are warnings naming it, never a crash."""
    load_plugins()
    kind = hook_name.removeprefix("register_").rstrip("s")
    found: dict[str, Registered[Any]] = {}
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        plugin = impl.plugin_name
        mine: list[Any] = []
        if not _call(impl, plugin, hook_name, register=mine.append):
            continue  # what a hook registered before it raised is dropped with it
        for obj in mine:
            name = getattr(obj, "name", None)
            if not isinstance(name, str) or not name:
                _problem(f"plugin '{plugin}' registered a {kind} without a name ({obj!r}); skipping it")
            elif name in found:
                first = found[name].plugin
                by = "twice by plugin" if first == plugin else f"by both plugin '{first}' and plugin"
                _problem(f"{kind} '{name}' is registered {by} '{plugin}'; keeping the one from '{first}' "
                         f"(uninstall one, or choose with {ENV_LOAD})")
            else:
                found[name] = Registered(name, obj, plugin)
    return dict(sorted(found.items()))


def _call(impl: Any, plugin: str, hook_name: str, **kwargs: Any) -> bool:
    """Run one plugin's hook; if it raises (anything but Ctrl-C), warn naming the plugin and return False."""
    try:
        impl.function(**kwargs)
        return True
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        if _debug():
            raise
        _warn(f"skipping plugin '{plugin}': its {hook_name} hook failed ({_failure(exc)})")
        return False


def _problem(message: str) -> None:
    """An invalid registration: an error with AUGDIFF_DEBUG=1 (to find it), otherwise a warning."""
    if _debug():
        raise AugdiffError(message)
    _warn(message)


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
    for impl in pm.hook.register_commands.get_hookimpls():
        _call(impl, impl.plugin_name, "register_commands", app=app)

