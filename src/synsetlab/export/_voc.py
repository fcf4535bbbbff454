"""PASCAL-VOC box files as ImageNet ships them (ILSVRC-2012 bbox archives, Kaggle's
``ILSVRC/Annotations``), and the number format every text layout shares."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from synsetlab.manifest import ManifestBox


def number(value: float) -> str:
    """``12`` for 12.0, else the shortest exact float text: corners survive a round trip."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def voc_xml(stem: str, folder: str, size: tuple[int, int], boxes: Sequence[ManifestBox]) -> bytes:
    """One annotation file: ``<annotation>`` with the image size and one ``<object>`` per box."""
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = folder
    ET.SubElement(root, "filename").text = stem
    ET.SubElement(ET.SubElement(root, "source"), "database").text = "ILSVRC_2012"
    size_el = ET.SubElement(root, "size")
    for tag, value in (("width", size[0]), ("height", size[1]), ("depth", 3)):
        ET.SubElement(size_el, tag).text = str(value)
    ET.SubElement(root, "segmented").text = "0"
    for box in boxes:
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = box.wnid
        ET.SubElement(obj, "pose").text = "Unspecified"
        ET.SubElement(obj, "truncated").text = "0"
        ET.SubElement(obj, "difficult").text = "0"
        bndbox = ET.SubElement(obj, "bndbox")
        for tag in ("xmin", "ymin", "xmax", "ymax"):
            ET.SubElement(bndbox, tag).text = number(getattr(box, tag))
    ET.indent(root, space="\t")
    return ET.tostring(root, encoding="utf-8") + b"\n"
