"""Which generator rows a benchmark compares, and with which options.

``--set GENERATOR.KEY=VALUE`` gives a benchmarked generator an option for its fit and its sampling (the same
override ``augment --set KEY=VALUE`` takes). ``--variant NAME=GENERATOR:KEY=VALUE[,KEY=VALUE…]`` adds GENERATOR a
second time under NAME with other options: its own rows, fit, generated sets and cells. A variant starts from its
generator's ``--set`` options, then its own, then ``--set NAME.KEY=VALUE``; it must differ from its generator.
Every key and value is checked by :meth:`augdiff.generator.Generator.check_overrides` before any work, so a bad
one gives the one-line error ``augment --set`` gives.

A generator's ``benchmark_overrides`` (e.g. ``add``: ``bidirectional=true``) come first, under everything above:
``--set add.bidirectional=false`` restores the one-way translation.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from augdiff import plugins
from augdiff.errors import AugdiffError

# A row name (a variant's, a --generated set's): it names folders and files, so no slashes or spaces.
ROW_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# Options are separated by commas that start another KEY=: a JSON list value ("levels=[0.2,0.5]") stays whole.
_OPTION_SPLIT = re.compile(r",(?=\s*[A-Za-z_][A-Za-z0-9_.-]*\s*=)")
VARIANT_SYNTAX = "NAME=GENERATOR:KEY=VALUE[,KEY=VALUE…], e.g. --variant add-pro-nohas=add-pro:attention=global"


def parse_value(raw: str) -> Any:
    """A ``--set`` value: JSON where it parses (numbers, true, lists), else the plain string."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


@dataclass(frozen=True)
class Variant:
    """``--variant NAME=GENERATOR:KEY=VALUE,…``: GENERATOR again, under NAME, with these options."""

    name: str
    generator: str
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Variant:
        name, sep, rest = text.partition("=")
        generator, _, raw = rest.partition(":")
        name, generator = name.strip(), generator.strip()
        if not sep or not ROW_NAME.match(name) or not generator:
            raise AugdiffError(f"--variant {text!r}: expected {VARIANT_SYNTAX}")
        options: dict[str, Any] = {}
        for item in _OPTION_SPLIT.split(raw) if raw.strip() else []:
            key, eq, value = item.partition("=")
            if not eq or not key.strip():
                raise AugdiffError(f"--variant {text!r}: {item!r} is not KEY=VALUE; expected {VARIANT_SYNTAX}")
            options[key.strip()] = parse_value(value)
        return cls(name, generator, options)


def parse_generator_sets(items: list[str] | None) -> dict[str, dict[str, Any]]:
    """``--set GENERATOR.KEY=VALUE`` items as ``{GENERATOR: {KEY: value}}`` (GENERATOR may name a variant)."""
    out: dict[str, dict[str, Any]] = {}
    for item in items or []:
        target, sep, raw = item.partition("=")
        generator, dot, key = target.partition(".")
        if not sep or not dot or not generator.strip() or not key.strip():
            raise AugdiffError(
                f"--set {item!r}: the benchmark takes GENERATOR.KEY=VALUE (the generator whose option it is), "
                "e.g. --set add-pro.attention=global"
            )
        out.setdefault(generator.strip(), {})[key.strip()] = parse_value(raw)
    return out


@dataclass(frozen=True)
class GeneratorEntry:
    """One generator row of the benchmark: a name, the installed generator behind it, its checked options."""

    name: str
    generator: str
    overrides: dict[str, Any]  # checked, under the current key names
    variant: bool = False
    defaults: tuple[str, ...] = ()  # keys of ``overrides`` that are the generator's benchmark_overrides, not --set


def resolve_entries(
    generators: list[str],
    variants: list[Variant],
    sets: dict[str, dict[str, Any]],
    profile: str,
) -> list[GeneratorEntry]:
    """The benchmarked generators, then the variants, with every option checked (no data is read)."""
    installed = plugins.generators()
    names = list(generators)
    for v in variants:
        if v.generator not in installed:
            raise AugdiffError(f"--variant {v.name}: unknown generator '{v.generator}'; known generators: "
                               f"{', '.join(installed) or 'none installed'}")
        if v.name in installed or v.name in names:
            raise AugdiffError(f"--variant {v.name}: the name is already a generator or another variant; "
                               "give the variant its own name")
        names.append(v.name)
    for target, options in sets.items():
        if target not in names:
            key = next(iter(options), "KEY")
            raise AugdiffError(f"--set {target}.{key}: '{target}' is not a benchmarked generator or variant; "
                               f"benchmarked: {', '.join(names) or 'none'}")

    checked: dict[str, dict[str, Any]] = {}

    def check(generator: str, options: dict[str, Any]) -> dict[str, Any]:
        # No options: nothing to check, and a generator without this profile fails where it always did.
        return plugins.get_generator(generator).check_overrides(profile, options) if options else {}

    def base(generator: str) -> dict[str, Any]:
        if generator not in checked:
            checked[generator] = check(generator, with_defaults(generator, sets.get(generator, {}))[0])
        return checked[generator]

    entries = []
    for g in generators:
        entries.append(GeneratorEntry(g, g, base(g), defaults=with_defaults(g, sets.get(g, {}))[1]))
    for v in variants:
        options, kept = with_defaults(v.generator, {**sets.get(v.generator, {}), **v.options, **sets.get(v.name, {})})
        overrides = check(v.generator, options)
        if overrides == base(v.generator):
            raise AugdiffError(f"--variant {v.name}: has the same options as {v.generator}; give the options that "
                               f"make it differ ({VARIANT_SYNTAX})")
        entries.append(GeneratorEntry(v.name, v.generator, overrides, variant=True, defaults=kept))
    return entries


def with_defaults(generator: str, given: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """``given`` (the user's options) over the generator's ``benchmark_overrides``, and the defaults kept.

    A user key replaces its default under its old name too (``renamed_options``).
    """
    cls = plugins.get_generator(generator)
    named = set(cls.current_names(given))
    kept = {k: v for k, v in cls.benchmark_overrides.items() if k not in named}
    return {**kept, **given}, tuple(kept)
