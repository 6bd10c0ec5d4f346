"""What members read: help, onboarding texts, profile, progress and friendly errors.

Shared by every adapter so Discord and Telegram say the same things; command names are passed in
because Telegram says `/imagine <prompt>` where Discord says `/imagine prompt:`.
"""

from __future__ import annotations

from bot.core import OnboardingStatus, Submitted, Update
from storage.store import Profile
from viper.contracts.errors import (
    InvalidArgument, JobCancelled, JobFailed, JobTimeout, ModelUnavailable, QueueUnavailable, ViperError,
)

TOKEN_HELP = {
    "telegram": "TELEGRAM_TOKEN: talk to @BotFather on Telegram, send /newbot, and copy the token it gives you.",
    "discord": (
        "DISCORD_TOKEN: create an application in the Discord Developer Portal, add a Bot, copy its token, "
        "and invite it with the 'bot' and 'applications.commands' scopes."
    ),
}


def intro(status: OnboardingStatus, how_to_comment: str) -> str:
    if status.resumed:
        return (
            f"Welcome back! You have {status.comments} of {status.needed} comments; let's continue.\n"
            f"{how_to_comment}"
        )
    return (
        "I'll learn your visual taste so every image I make for you leans your way.\n"
        f"Pick at least {status.needed} images that you love or dislike and tell me why, as an artist would: "
        f"colours, style, mood, texture, light, composition. {how_to_comment}"
    )


def format_profile(profile: Profile | None, onboard_command: str) -> str:
    if profile is None:
        return f"You have no taste profile yet. Start with {onboard_command} to build one (it takes about five minutes)."
    liked = ", ".join(profile.liked) or "(nothing specific)"
    disliked = ", ".join(profile.disliked) or "(nothing specific)"
    return f"Your taste profile\n👍 Liked: {liked}\n👎 Disliked: {disliked}"


def taste_added(added: list[str], liked: bool) -> str:
    """The answer to /like or /dislike."""
    return f"{'👍' if liked else '👎'} Added to your {'liked' if liked else 'disliked'} features: {', '.join(added)}."


def cancel_answer(cancelled: bool) -> str:
    """The answer to an image's Cancel button (the status message then says how the job ended)."""
    return "Cancelling…" if cancelled else "That one has already finished."


def queued(sub: Submitted, onboard_command: str) -> str:
    where = f"position {sub.position} in the queue" if sub.position else "starting now"
    text = f"🎨 Queued: {where}."
    if not sub.workers_alive:
        text += " No image worker is running right now; your image will start as soon as one is."
    if not sub.personalised:
        text += f"\nTip: this one isn't personalised. Use {onboard_command} so I learn your taste."
    return text


def progress(update: Update) -> str:
    if update.step is not None and update.total:
        filled = round(10 * update.step / update.total)
        return f"🎨 Painting… {'▰' * filled}{'▱' * (10 - filled)} step {update.step}/{update.total}"
    if update.position:
        return f"🎨 Queued: position {update.position} in the queue."
    return "🎨 Starting…"


def friendly(err: BaseException) -> str:
    """One sentence a member can act on, for any error the core or the engine raises."""
    if isinstance(err, InvalidArgument):
        return f"Sorry, {err.message}."
    if isinstance(err, QueueUnavailable):
        return "The image service is unreachable right now. Nothing was lost; please try again in a minute."
    if isinstance(err, ModelUnavailable):
        return "The image model isn't available on the worker right now; the operator has been told. Please try later."
    if isinstance(err, JobTimeout):
        return "That took far too long, so I stopped waiting. The workers may be busy; please try again later."
    if isinstance(err, JobCancelled):
        return "Cancelled: that image won't be made."
    if isinstance(err, JobFailed):
        return "Something went wrong while making that. Please try again; if it keeps failing, tell the operator."
    if isinstance(err, ViperError):
        return f"Sorry: {err.message}."
    return "Something unexpected went wrong. Please try again."
