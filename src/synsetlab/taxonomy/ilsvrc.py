"""The 1000 classes of ILSVRC-2012 (the ImageNet-1k of torchvision and timm) and their numbering.

Two numberings are in use:

- ``ILSVRC2012_ID``, 1 to 1000, the order of the devkit's ``meta.mat`` and of its validation
  ground truth file;
- the class index, 0 to 999, the position of the wnid in sorted order, which torchvision's
  ``ImageNet``/``ImageFolder`` and timm's pretrained heads use.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Literal

__all__ = [
    "ilsvrc2012_id_to_index",
    "ilsvrc2012_id_to_wnid",
    "ilsvrc2012_index_to_id",
    "ilsvrc2012_wnids",
]

_WNIDS_FILE = "ilsvrc2012_wnids.txt"


@functools.cache
def _wnids_by_id() -> tuple[str, ...]:
    text = resources.files("synsetlab.taxonomy").joinpath("data", _WNIDS_FILE).read_text("ascii")
    wnids = tuple(text.split())
    if len(wnids) != 1000 or len(set(wnids)) != 1000:
        raise RuntimeError(f"{_WNIDS_FILE} must hold 1000 distinct wnids, it holds {len(wnids)}")
    return wnids


def ilsvrc2012_wnids(order: Literal["id", "sorted"] = "sorted") -> list[str]:
    """The 1000 ILSVRC-2012 wnids.

    ``order="sorted"``: by wnid, so position = class index 0..999 (torchvision, timm).
    ``order="id"``: by ILSVRC2012_ID, so position + 1 = ILSVRC2012_ID (devkit).
    """
    if order == "sorted":
        return sorted(_wnids_by_id())
    if order == "id":
        return list(_wnids_by_id())
    raise ValueError(f"unknown order {order!r}: use 'id' or 'sorted'")


def ilsvrc2012_id_to_wnid() -> dict[int, str]:
    """ILSVRC2012_ID (1..1000) -> wnid."""
    return {i: wnid for i, wnid in enumerate(_wnids_by_id(), start=1)}


def ilsvrc2012_id_to_index() -> dict[int, int]:
    """ILSVRC2012_ID (1..1000) -> class index (0..999, the sorted-wnid position)."""
    index = {wnid: i for i, wnid in enumerate(sorted(_wnids_by_id()))}
    return {i: index[wnid] for i, wnid in enumerate(_wnids_by_id(), start=1)}


def ilsvrc2012_index_to_id() -> dict[int, int]:
    """Class index (0..999, the sorted-wnid position) -> ILSVRC2012_ID (1..1000)."""
    return dict(sorted((index, ilsvrc_id) for ilsvrc_id, index in ilsvrc2012_id_to_index().items()))
