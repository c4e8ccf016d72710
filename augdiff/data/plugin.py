"""Registers augdiff's built-in datasets through the same hook a third-party plugin uses."""

from __future__ import annotations

from collections.abc import Callable

from augdiff.data import folder, pcam, synth_histo
from augdiff.data.spec import DatasetSpec
from augdiff.hookspecs import hookimpl


@hookimpl
def register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    register(
        DatasetSpec(
            synth_histo.NAME,
            synth_histo.load,
            "Built-in procedural H&E patches (normal/tumor) with a ground-truth stage per image; no download.",
        )
    )
    register(
        DatasetSpec(
            "folder",
            folder.load_generic,
            "Your images: --data-root DIR with DIR/<class>/* or DIR/{train,val,test}/<class>/*.",
        )
    )
    register(
        DatasetSpec(
            "rose",
            folder.folder_loader("rose", ["normal", "tumor"]),
            "ROSE pancreatic cytology (normal, tumor) from --data-root or $AUGDIFF_DATA_ROOT/rose.",
        )
    )
    register(
        DatasetSpec(
            "prcc",
            folder.folder_loader("prcc", ["type1", "type2"]),
            "Papillary renal cell carcinoma (type1, type2) from --data-root or $AUGDIFF_DATA_ROOT/prcc.",
        )
    )
    register(
        DatasetSpec(
            "pcam",
            pcam.load,
            "PatchCamelyon (normal, tumor): official HDF5 or Kaggle TIF release, read lazily.",
        )
    )
