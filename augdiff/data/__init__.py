"""Datasets: loaders for user folders, PatchCamelyon and the built-in synthetic H&E set."""

from augdiff.data.spec import SPLITS, DataOptions, Dataset, DatasetSpec, Split

__all__ = ["SPLITS", "DataOptions", "Dataset", "DatasetSpec", "Split", "load_dataset"]


def load_dataset(name: str, options: DataOptions) -> Dataset:
    from augdiff import plugins

    return plugins.get_dataset(name).load(options)
