"""PASCAL-VOC box annotations, as ImageNet ships them (``ILSVRC2012_bbox_*`` archives, Kaggle's
``ILSVRC/Annotations/CLS-LOC``): one XML file per image, one ``<object>`` per box::

    <annotation>
      <filename>n01440764_10026</filename>
      <size><width>250</width><height>250</height><depth>3</depth></size>
      <object>
        <name>n01440764</name>
        <bndbox><xmin>3</xmin><ymin>5</ymin><xmax>248</xmax><ymax>250</ymax></bndbox>
      </object>
    </annotation>

Coordinates are pixels of the stored image, 1-based and inclusive in ImageNet's files; they are
kept as given (see :class:`~synsetlab.ingest.records.Box`).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from synsetlab.errors import UserError
from synsetlab.ingest.records import Box

_CORNERS = ("xmin", "ymin", "xmax", "ymax")


class BoxXMLError(UserError, ValueError):
    """An annotation file that is not PASCAL-VOC XML with numeric box corners."""


def parse_voc_boxes(xml: bytes | str) -> tuple[Box, ...]:
    """The boxes of one annotation file, in file order; an image without objects gives ``()``."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as e:
        raise BoxXMLError(f"not well-formed XML: {e}") from e
    boxes = []
    for obj in root.iter("object"):
        name = (obj.findtext("name") or "").strip()
        bndbox = obj.find("bndbox")
        if not name or bndbox is None:
            raise BoxXMLError("an <object> lacks <name> or <bndbox>")
        try:
            xmin, ymin, xmax, ymax = (float(bndbox.findtext(c) or "") for c in _CORNERS)
        except ValueError as e:
            raise BoxXMLError(f"box of {name} has a missing or non-numeric corner") from e
        boxes.append(Box(name, xmin, ymin, xmax, ymax))
    return tuple(boxes)
