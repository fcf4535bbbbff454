"""The catalog: the single source of truth for images, labels, boxes and what was rejected."""

from synsetlab.catalog.engine import make_engine, make_sessionmaker
from synsetlab.catalog.migrate import current_revision, head_revision, upgrade
from synsetlab.catalog.models import (
    Base,
    Box,
    CustomClass,
    Image,
    Label,
    LabelState,
    RejectedFile,
    Source,
)

__all__ = [
    "Base",
    "Box",
    "CustomClass",
    "Image",
    "Label",
    "LabelState",
    "RejectedFile",
    "Source",
    "current_revision",
    "head_revision",
    "make_engine",
    "make_sessionmaker",
    "upgrade",
]
