"""The command catalogue: every command a member can type, defined once for every platform.

Telegram's command menu and /help, and Discord's slash-command registration and /help, all come
from `CATALOGUE`. To add a command: add an entry here, a use case in `bot.core`, and one handler per
adapter (see docs/ARCHITECTURE.md, "Adding a command").
"""

from __future__ import annotations

from dataclasses import dataclass

TELEGRAM = "telegram"
DISCORD = "discord"
BOTH = (TELEGRAM, DISCORD)


@dataclass(frozen=True)
class Argument:
    """A command's one argument (`/imagine prompt:` on Discord, the rest of the line on Telegram); on
    Discord it is the command's first option (`/profile action:` offers its choices there)."""

    name: str
    description: str
    example: str


@dataclass(frozen=True)
class Command:
    name: str
    description: str  # one line: Telegram's command menu, Discord's slash-command description, /help
    argument: Argument | None = None
    platforms: tuple[str, ...] = BOTH

    def usage(self, platform: str) -> str:
        """How a member types it on `platform`: `/like <features>` or `/like features:`."""
        if self.argument is None:
            return f"/{self.name}"
        if platform == DISCORD:
            return f"/{self.name} `{self.argument.name}:`"
        return f"/{self.name} <{self.argument.name}>"


FEATURES_LIKED = Argument("features", "Features separated by commas, e.g. teal, flowing lines, soft light",
                          "teal, flowing lines, soft light")
FEATURES_DISLIKED = Argument("features", "Features separated by commas, e.g. neon, clutter, harsh shadows",
                             "neon, clutter, harsh shadows")

CATALOGUE: tuple[Command, ...] = (
    Command("start", "Build your taste profile: comment on gallery images", platforms=(TELEGRAM,)),
    Command("onboard", "Teach me your visual taste by commenting on gallery images.", platforms=(DISCORD,)),
    Command("more", "Show the next page of gallery images", platforms=(TELEGRAM,)),
    Command("done", "Finish onboarding and build your profile", platforms=(TELEGRAM,)),
    Command("cancel", "Pause onboarding (your comments are kept)", platforms=(TELEGRAM,)),
    Command("redo", "Start onboarding again from scratch", platforms=(TELEGRAM,)),
    Command("profile", "Show what you like and dislike; share, unshare, export or import it",
            Argument("action", "share, unshare, export or import (empty: show your profile)", "share")),
    Command("like", "Add features you like to your taste profile", FEATURES_LIKED),
    Command("dislike", "Add features you dislike to your taste profile", FEATURES_DISLIKED),
    Command("forget", "Delete everything I store about you (asks first)"),
    Command("link", "Use one profile on Telegram and Discord: /link shows a code, /link CODE joins",
            Argument("code", "The code /link showed on your other platform (empty: show a code here)", "7KQ2MX9A")),
    Command("unlink", "Split linked Telegram and Discord accounts (each keeps a copy of the profile)"),
    Command("imagine", "Make an image for you, personalised with your taste profile",
            Argument("prompt", "What should I paint?", "a lighthouse at dusk --ar 16:9")),
    Command("settings", "Your /imagine defaults: aspect ratio, strength, steps, where images go"),
    Command("help", "List the commands"),
)

ONBOARD_COMMAND = {TELEGRAM: "/start", DISCORD: "/onboard", "cli": "viper"}


def for_platform(platform: str) -> list[Command]:
    return [command for command in CATALOGUE if platform in command.platforms]


def command(name: str) -> Command:
    for entry in CATALOGUE:
        if entry.name == name:
            return entry
    raise KeyError(name)
