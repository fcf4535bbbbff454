"""Ingestion: source readers (one module per kind) feeding one decode-and-store pipeline."""

from synsetlab.ingest.records import Box, SourceError, SourceItem, SourceSpec

__all__ = ["Box", "SourceError", "SourceItem", "SourceSpec"]
