"""Datasets and the data path: built-in sets, image folders, device-resident loaders.

This package's `__init__` stays torch-free (only the catalog is re-exported) so that
listing datasets is instant; import `cnnstudio.data.loaders` for the heavy parts.
"""

from __future__ import annotations

from cnnstudio.data.catalog import DEFAULT_DATASET, DatasetInfo, get_info, list_datasets

__all__ = ["DEFAULT_DATASET", "DatasetInfo", "get_info", "list_datasets"]
