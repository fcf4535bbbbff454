"""The catalog: the single source of truth for images, labels, boxes and what was rejected."""

from synsetlab.catalog.engine import make_engine, make_sessionmaker
from synsetlab.catalog.migrate import current_revision, head_revision, upgrade
from synsetlab.catalog.models import (
    Base,
    BlobSignals,
    Box,
    CustomClass,
    Decision,
    DecisionAction,
    Finding,
    Image,
    Label,
    LabelState,
    RejectedFile,
    Source,
    SplitAssignment,
    SplitRun,
    Version,
)

__all__ = [
    "Base",
    "BlobSignals",
    "Box",
    "CustomClass",
    "Decision",
    "DecisionAction",
    "Finding",
    "Image",
    "Label",
    "LabelState",
    "RejectedFile",
    "Source",
    "SplitAssignment",
    "SplitRun",
    "Version",
    "current_revision",
    "head_revision",
    "make_engine",
    "make_sessionmaker",
    "upgrade",
]
