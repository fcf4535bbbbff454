"""The one base of every error a user can cause, and only those.

The CLI prints a :class:`UserError` as one red line and exits with status 1; the server answers
it with a 4xx status (each subclass may name its own). Any other exception is a bug: the CLI
shows its traceback and the server answers 500 without the internal message.

Every module's own error class derives from it, keeping the builtin base it had before
(``ValueError``, ``KeyError``, ...) so that callers catching those still work::

    UserError
    ├── SettingsError           synsetlab.settings (synsetlab.toml, SYNSETLAB_* environment)
    ├── WorkspaceError          synsetlab.workspace
    ├── TaxonomyError           synsetlab.taxonomy.errors (UnknownSynsetError, ...)
    │   └── SelectionError      synsetlab.taxonomy.selection
    ├── SourceError             synsetlab.ingest.records
    ├── SplitError              synsetlab.splits
    ├── VersionError            synsetlab.versions
    ├── SearchError             synsetlab.curate.hamming_index (duplicate search options)
    ├── LabelIssueError         synsetlab.curate.label_issues
    ├── DataError               synsetlab.data (a missing split, not a webdataset export)
    ├── SyntheticConfigError    synsetlab.synthetic
    ├── AnnotationError         synsetlab.annotate (votes, gold, consensus options)
    ├── ChallengeError          synsetlab.challenge.errors (NotFoundError, ...)
    ├── SubmissionError         synsetlab.challenge.formats
    ├── RecipeError, TrainingError, CheckpointError, ModelError, EnsembleError,
    │   OnnxExportError, SSLError, EvaluationError, DeviceError   synsetlab.train
    ├── DetectorError, DetectionEvaluationError   synsetlab.detect
    ├── BoxXMLError, UnknownClassError, SourceInUseError   synsetlab.ingest
    ├── CsrfError, RateLimitedError   synsetlab.server.security
    ├── OutputExistsError, ExportError   synsetlab.export
    └── ClientError             synsetlab.client
"""

from __future__ import annotations

__all__ = ["UserError"]


class UserError(Exception):
    """An input, file or request that cannot be accepted; the message says what to do instead.

    Raise a module's own subclass (or ``UserError`` itself where none fits), never a bare
    ``ValueError``, for anything a user can cause: the CLI and the server only treat this
    class as the user's mistake.
    """
