"""The states a member's onboarding and a recorded job go through, shared by the core and the store.

Both are `StrEnum`s: the store writes their values as text, and a value read back compares equal to
its member (`OnboardingState("active") is OnboardingState.ACTIVE`).
"""

from __future__ import annotations

from enum import StrEnum


class OnboardingState(StrEnum):
    ACTIVE = "active"          # commenting on gallery images
    PAUSED = "paused"          # /cancel: comments kept, /start carries on
    EXTRACTING = "extracting"  # /done: the profile is being built on a worker
    DONE = "done"              # a profile was built; commenting again re-opens onboarding


class JobState(StrEnum):
    QUEUED = "queued"        # recorded and queued (or running) on a worker
    DONE = "done"            # the worker finished; the result is not delivered yet
    DELIVERED = "delivered"  # the member has the result
    FAILED = "failed"        # ended without a result (the member was told why)
    CANCELLED = "cancelled"  # the member cancelled it


class JobKind(StrEnum):
    EXTRACT = "extract"
    GENERATE = "generate"


# Jobs whose result has not reached the member yet: a restarted bot follows them again.
UNDELIVERED = (JobState.QUEUED, JobState.DONE)
