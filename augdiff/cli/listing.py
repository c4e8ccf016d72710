"""``augdiff list``: what generators, datasets, classifiers and benchmark set recipes are installed, and from where."""

from __future__ import annotations

import typer
from rich.table import Table

from augdiff import plugins
from augdiff.cli.options import DEFAULT_PROFILE, Json, Profile, console, emit_json
from augdiff.errors import AugdiffError


def inventory(profile: str) -> dict[str, list[dict[str, object]]]:
    gens = []
    for name, reg in plugins.generators().items():
        cls = reg.obj
        gens.append({
            "name": name, "plugin": reg.plugin, "description": cls.description,
            "profiles": list(cls.profiles), "fits_as": cls.fitted_under(),
            "config": cls.profiles.get(profile),
        })
    datasets = [{"name": n, "plugin": r.plugin, "description": r.obj.description}
                for n, r in plugins.datasets().items()]
    classifiers = [{"name": n, "plugin": r.plugin, "description": r.obj.description}
                   for n, r in plugins.classifiers().items()]
    from augdiff.benchmark.recipes import RECIPES

    recipes = [{"name": n, "plugin": "augdiff", "description": r.description} for n, r in RECIPES.items()]
    return {"generators": gens, "datasets": datasets, "classifiers": classifiers, "set recipes": recipes}


def list_(json_: Json = False, profile: Profile = DEFAULT_PROFILE) -> None:
    """List generators, datasets, classifiers and set recipes with the plugin each came from."""
    inv = inventory(profile)
    known = sorted({p for g in inv["generators"] for p in g["profiles"]})  # type: ignore[attr-defined]
    if known and profile not in known:
        raise AugdiffError(f"--profile {profile}: no installed generator has this profile; choose one of "
                           f"{', '.join(known)}")
    if json_:
        emit_json(inv)
        return
    for kind, rows in inv.items():
        table = Table(title=kind, title_justify="left", show_edge=False)
        for col in ("name", "plugin", "description"):
            table.add_column(col)
        for row in rows:
            table.add_row(str(row["name"]), str(row["plugin"]), str(row["description"]))
        console.print(table)


def register(app: typer.Typer) -> None:
    app.command("list")(list_)
