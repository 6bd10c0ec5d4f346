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
class Subcommand:
    """One subcommand of a Discord command group (`/admin channels`); on Telegram it is the first word
    of the command's argument (`/admin channels ...`)."""

    name: str
    description: str  # Discord's subcommand description (up to 100 characters)


@dataclass(frozen=True)
class Command:
    name: str
    description: str  # one line: Telegram's command menu, Discord's slash-command description, /help
    argument: Argument | None = None
    platforms: tuple[str, ...] = BOTH
    # On Discord a command group: one slash subcommand each, in place of the argument (Telegram keeps
    # the argument and reads the subcommand from its first word).
    subcommands: tuple[Subcommand, ...] = ()
    # For a server's admins: on Discord only members with Manage Server see it (until the server
    # changes that), and only in servers. The core checks again on every use, on both platforms.
    for_admins: bool = False

    def usage(self, platform: str) -> str:
        """How a member types it on `platform`: `/like <features>` or `/like features:`, and a group's
        subcommands on Discord: `/admin channels|limits|...`."""
        if platform == DISCORD and self.subcommands:
            return f"/{self.name} " + "|".join(sub.name for sub in self.subcommands)
        if self.argument is None:
            return f"/{self.name}"
        if platform == DISCORD:
            return f"/{self.name} `{self.argument.name}:`"
        return f"/{self.name} <{self.argument.name}>"


FEATURES_LIKED = Argument("features", "Features separated by commas, e.g. teal, flowing lines, soft light",
                          "teal, flowing lines, soft light")
FEATURES_DISLIKED = Argument("features", "Features separated by commas, e.g. neon, clutter, harsh shadows",
                             "neon, clutter, harsh shadows")

ADMIN_SUBCOMMANDS = (
    Subcommand("channels", "Where /imagine works here: add, remove or clear a channel, or list them"),
    Subcommand("limits", "Images per member per day and the cooldown here (reset: back to the bot's defaults)"),
    Subcommand("block", "Terms refused here in prompts, features and comments: add, remove or list"),
    Subcommand("pause", "Pause image generation here; queued images wait"),
    Subcommand("resume", "Resume image generation here; queued images go back in line"),
    Subcommand("stats", "Today's images and members here, the queue, and refusals by rule"),
)

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
    Command("usage", "How many images you made today, what is left, and your queued images"),
    Command("admin", "Server admins: channels, limits, blocked terms, pause/resume, stats",
            Argument("what", "channels, limits, block, pause, resume or stats, then its values", "stats"),
            subcommands=ADMIN_SUBCOMMANDS, for_admins=True),
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
