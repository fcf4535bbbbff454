"""Annotation: crowd verification of candidate labels, as plain functions over vote tables.

- :mod:`~synsetlab.annotate.votes`: the vote table (crowd-kit's ``task, worker, label``), gold;
- :mod:`~synsetlab.annotate.aggregate`: majority vote and Dawid-Skene (crowd-kit), gold fixed;
- :mod:`~synsetlab.annotate.consensus`: ImageNet's dynamic consensus (table, next action);
- :mod:`~synsetlab.annotate.hierarchy`: a yes for a synset is a yes for its ancestors;
- :mod:`~synsetlab.annotate.quality`: annotator accuracy on gold, stopping, too-fast answers;
- :mod:`~synsetlab.annotate.crowd`: a simulated crowd (accuracy, spammers, adversaries, speed);
- :mod:`~synsetlab.annotate.simulate`: verification by the simulated crowd, measured.

On the catalog (what a server's routes and the CLI call):

- :mod:`~synsetlab.annotate.projects`: verification projects, their questions and gold;
- :mod:`~synsetlab.annotate.assign`: :func:`next_task`, the page where a vote is worth most;
- :mod:`~synsetlab.annotate.submit`: :func:`submit_task`, each vote stored exactly once;
- :mod:`~synsetlab.annotate.decide` and :mod:`~synsetlab.annotate.store`: tables, decisions,
  stopping annotators, as votes arrive;
- :mod:`~synsetlab.annotate.outcomes`: label states from the votes, reversible;
- :mod:`~synsetlab.annotate.summary`: progress, and what a datasheet says;
- :mod:`~synsetlab.annotate.exchange`: crowd-kit CSV and Label Studio JSON, in and out;
- :mod:`~synsetlab.annotate.crowd_run`: the simulated crowd through next_task/submit_task.

Box projects (draw, verify quality, verify coverage; Su, Deng and Fei-Fei 2012), on the same
projects, annotators, gold, stopping rule and project lock:

- :mod:`~synsetlab.annotate.box_projects`: :func:`create_box_project`, items and gold boxes;
- :mod:`~synsetlab.annotate.box_assign`: :func:`next_box_task`, verify first, then cover, then
  draw;
- :mod:`~synsetlab.annotate.box_submit`: :func:`submit_box_task`, each answer checked and
  stored once;
- :mod:`~synsetlab.annotate.box_decide`: boxes accepted or rejected, images covered, as votes
  arrive;
- :mod:`~synsetlab.annotate.box_outcomes`: :func:`aggregate_boxes` into the catalog with
  provenance, :func:`undo_boxes`;
- :mod:`~synsetlab.annotate.box_summary`: :func:`box_progress`, progress and cost;
- :mod:`~synsetlab.annotate.box_assist`: :func:`propose_boxes`, a detector's boxes to verify
  instead of drawing;
- :mod:`~synsetlab.annotate.box_crowd` and :mod:`~synsetlab.annotate.box_run`: a simulated
  box crowd through next_box_task/submit_box_task, and the baseline without verification.
"""

from synsetlab.annotate.aggregate import Aggregation, dawid_skene, majority_vote
from synsetlab.annotate.assign import PageImage, Task, next_task
from synsetlab.annotate.box_assign import BoxTaskView, next_box_task
from synsetlab.annotate.box_assist import BoxProposals, propose_boxes
from synsetlab.annotate.box_crowd import BoxCrowdConfig, SimulatedBoxCrowd
from synsetlab.annotate.box_outcomes import BoxesAggregated, aggregate_boxes, undo_boxes
from synsetlab.annotate.box_projects import (
    BoxOptions,
    CreatedBoxProject,
    create_box_project,
    is_box_project,
)
from synsetlab.annotate.box_run import BoxRun, BoxTruth, box_truth, draw_only, simulate_box_project
from synsetlab.annotate.box_submit import BoxSubmitted, submit_box_task
from synsetlab.annotate.box_summary import BoxProgress, box_progress
from synsetlab.annotate.consensus import (
    ACCEPT,
    REJECT,
    VOTE,
    ConsensusTable,
    estimate_table,
    fit_independence,
    independence_table,
    next_action,
    next_actions,
    posterior,
)
from synsetlab.annotate.crowd import Answers, CrowdConfig, SimulatedCrowd
from synsetlab.annotate.crowd_run import CrowdRun, catalog_truth, simulate_project
from synsetlab.annotate.errors import (
    AnnotationConflictError,
    AnnotationError,
    AnnotationForbiddenError,
    AnnotationNotFoundError,
)
from synsetlab.annotate.exchange import export_project, import_votes
from synsetlab.annotate.hierarchy import ancestors_from_parents, propagate_yes
from synsetlab.annotate.outcomes import (
    aggregate_project,
    undo_outcomes,
    verified_labels,
)
from synsetlab.annotate.projects import (
    ProjectOptions,
    annotator_for,
    create_project,
    get_project,
    list_projects,
)
from synsetlab.annotate.quality import flag_fast, gold_quality, worker_speed, workers_to_stop
from synsetlab.annotate.simulate import (
    Score,
    Verification,
    model_prior,
    plant_candidates,
    score_decisions,
    simulate_verification,
    simulate_votes,
)
from synsetlab.annotate.submit import Submitted, submit_task
from synsetlab.annotate.summary import AnnotationSummary, annotation_summary, project_progress
from synsetlab.annotate.votes import check_gold, check_votes, first_votes, make_votes, vote_counts

__all__ = [
    "ACCEPT",
    "REJECT",
    "VOTE",
    "Aggregation",
    "AnnotationConflictError",
    "AnnotationError",
    "AnnotationForbiddenError",
    "AnnotationNotFoundError",
    "AnnotationSummary",
    "Answers",
    "BoxCrowdConfig",
    "BoxOptions",
    "BoxProgress",
    "BoxProposals",
    "BoxRun",
    "BoxSubmitted",
    "BoxTaskView",
    "BoxTruth",
    "BoxesAggregated",
    "ConsensusTable",
    "CreatedBoxProject",
    "CrowdConfig",
    "CrowdRun",
    "PageImage",
    "ProjectOptions",
    "Score",
    "SimulatedBoxCrowd",
    "SimulatedCrowd",
    "Submitted",
    "Task",
    "Verification",
    "aggregate_boxes",
    "aggregate_project",
    "ancestors_from_parents",
    "annotation_summary",
    "annotator_for",
    "box_progress",
    "box_truth",
    "catalog_truth",
    "check_gold",
    "check_votes",
    "create_box_project",
    "create_project",
    "dawid_skene",
    "draw_only",
    "estimate_table",
    "export_project",
    "first_votes",
    "fit_independence",
    "flag_fast",
    "get_project",
    "gold_quality",
    "import_votes",
    "independence_table",
    "is_box_project",
    "list_projects",
    "majority_vote",
    "make_votes",
    "model_prior",
    "next_action",
    "next_actions",
    "next_box_task",
    "next_task",
    "plant_candidates",
    "posterior",
    "project_progress",
    "propagate_yes",
    "propose_boxes",
    "score_decisions",
    "simulate_box_project",
    "simulate_project",
    "simulate_verification",
    "simulate_votes",
    "submit_box_task",
    "submit_task",
    "undo_boxes",
    "undo_outcomes",
    "verified_labels",
    "vote_counts",
    "worker_speed",
    "workers_to_stop",
]
