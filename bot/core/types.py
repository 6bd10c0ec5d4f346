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
    private: bool = False  # the member's /settings send their images privately


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
    rows: "Rows" = field(default_factory=list)  # the action buttons under the image
    private: bool = False  # the member asked (/settings) for their images privately
    spoiler: bool = False  # the safety check flagged it and the policy says: hide it behind a spoiler
    platform: str = ""  # where the job was asked for (where its message ids belong)


# -- screens and buttons, drawn by each adapter ------------------------------------------------------


@dataclass(frozen=True)
class Button:
    """A platform-neutral button: its label and what a press means (`route` and `args`).

    Both adapters draw it and send its presses back to `ViperBot.press` with the same route and
    args; its wire form (`data`: Telegram's callback data, Discord's custom_id) is
    `viper:<route>:<arg>:<arg>...` and fits Telegram's 64 bytes for every button the core makes.
    """

    label: str
    route: str
    args: tuple[str, ...] = ()
    style: str = "secondary"  # secondary | primary | success | danger (Discord colours; Telegram ignores)

    @property
    def data(self) -> str:
        return ":".join(("viper", self.route, *self.args))


Rows = list[list[Button]]


@dataclass
class Reply:
    """What the core answers to a button press or a comment on a result.

    - `toast`: a short private note (Telegram's answer to the press, Discord's ephemeral message);
    - `text` (+ `rows`): a message; `edit` replaces the pressed message instead of sending a new
      one, `private` keeps it for the presser's eyes (Discord ephemeral; Telegram: it's already
      the presser's own chat or a harmless note);
    - `submitted`: a new job to follow to its image, as after /imagine (Reroll, Vary, Compare, Mine);
    - `ask_comment`: the job whose image the presser wants to comment on (Why): Discord opens a
      form, Telegram asks for a reply.
    """

    toast: str | None = None
    text: str | None = None
    rows: Rows = field(default_factory=list)
    edit: bool = False
    private: bool = True
    submitted: Submitted | None = None
    ask_comment: str | None = None
    alert: bool = False


@dataclass
class Posted:
    """Where a platform put a delivered image (message id "" when the platform's answer was lost)."""

    chat_id: str
    message_id: str = ""
