"""The JSON API under ``/api``: one router per entity, as in full-stack-fastapi-template."""

from fastapi import APIRouter

from synsetlab.server.api import accounts, admin, challenges, submissions

router = APIRouter(prefix="/api")
router.include_router(accounts.router)
router.include_router(challenges.router)
router.include_router(submissions.router)
router.include_router(admin.router)

__all__ = ["router"]
