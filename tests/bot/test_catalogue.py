"""The command catalogue is the one list both platforms take their commands from."""

from __future__ import annotations

import discord
from discord import app_commands

from bot import messages
from bot.adapters.discord.cog import ViperCog
from bot.adapters.telegram.handlers import TelegramHandlers
from bot.commands import DISCORD, TELEGRAM, command, for_platform


def test_every_catalogue_command_has_its_handler_on_each_platform():
    slash = {command.name: command for command in ViperCog.__cog_app_commands__}
    for entry in for_platform(DISCORD):
        assert entry.name in slash, f"/{entry.name} is in the catalogue but not in the Discord cog"
        assert slash[entry.name].description == entry.description[:100]
        if entry.subcommands:  # a command group: the catalogue's subcommands, in its order
            group = slash[entry.name]
            assert isinstance(group, app_commands.Group)
            assert [(c.name, c.description) for c in group.commands] == [
                (sub.name, sub.description[:100]) for sub in entry.subcommands]
        elif entry.argument is not None:
            parameter = slash[entry.name].parameters[0]  # the catalogue's argument comes first (/imagine has options after it)
            assert (parameter.name, parameter.description) == (entry.argument.name, entry.argument.description)
        if entry.for_admins:  # shown by default only to members with Manage Server, only in servers
            assert slash[entry.name].default_permissions == discord.Permissions(manage_guild=True)
            assert slash[entry.name].guild_only
        else:
            assert slash[entry.name].default_permissions is None and not slash[entry.name].guild_only
    assert set(slash) == {entry.name for entry in for_platform(DISCORD)}
    for entry in for_platform(TELEGRAM):
        assert callable(getattr(TelegramHandlers, f"on_{entry.name}", None)), f"no TelegramHandlers.on_{entry.name}"


def test_usage_and_admin_are_on_both_platforms_and_in_both_helps():
    for name in ("usage", "admin"):
        assert command(name).platforms == (TELEGRAM, DISCORD)
    admin = command("admin")
    discord_help = messages.help_text(DISCORD, 8)
    assert "/usage: " in discord_help and "/admin channels|limits|block|pause|resume|stats: " in discord_help
    telegram_help = messages.help_text(TELEGRAM, 8)
    assert "/usage: " in telegram_help and f"/admin <{admin.argument.name}>: " in telegram_help
    # Telegram reads the subcommand from the argument's first word: the argument names each of them.
    assert all(sub.name in admin.argument.description for sub in admin.subcommands)
