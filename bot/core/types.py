"""The values the core hands to adapters: who is talking, what to show, what a job is doing."""

from __future__ import annotations

from dataclasses import dataclass, field

from storage.gallery import GalleryImage
from viper.contracts import jobs


@dataclass(frozen=True)
class MemberRef:
    """Who is talking to the bot: the platform ("telegram", "discord", "cli") and its user id."""

    platform: str
    user_id: str
    display_name: str = ""


@dataclass
class GalleryPage:
    page: int
    pages: int
    images: list[GalleryImage]
    first_number: int  # the 1-based number shown on the first image of the page


@dataclass
class PageMarks:
    """What a page of numbers shows: the images commented on, and the one being typed about."""

    commented: set[str]
    pending: str | None


@dataclass
class OnboardingStatus:
    comments: int
    needed: int
    page: GalleryPage
    resumed: bool


@dataclass
class PagerView:
    """One gallery image as a one-at-a-time pager shows it (Discord)."""

    number: int
    total: int
    image: GalleryImage
    earlier: str | None  # the member's comment on it, if any
    comments: int
    can_finish: bool
    caption: str


@dataclass
class Submitted:
    """An /imagine that is recorded and queued."""

    job_id: str
    position: int | None
    workers_alive: bool
    personalised: bool
    request: jobs.GenerateRequest
    text: str = ""  # the status line to show


@dataclass
class Update:
    """What a status message should say while a job waits or runs."""

    status: str  # queued | in_progress | ...
    position: int | None = None
    step: int | None = None
    total: int | None = None


@dataclass
class Delivery:
    job_id: str
    result: jobs.GenerateResult
    caption: str
    notes: list[str] = field(default_factory=list)
