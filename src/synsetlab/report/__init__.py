"""The datasheet of a dataset version: one HTML page with its figures and thumbnails."""

from synsetlab.report.datasheet import DatasheetData, build_datasheet, collect

__all__ = ["DatasheetData", "build_datasheet", "collect"]
