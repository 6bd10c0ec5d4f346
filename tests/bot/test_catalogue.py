"""The command catalogue is the one list both platforms take their commands from."""

from __future__ import annotations

from bot.adapters.discord.cog import ViperCog
from bot.adapters.telegram.handlers import TelegramHandlers
from bot.commands import DISCORD, TELEGRAM, for_platform


def test_every_catalogue_command_has_its_handler_on_each_platform():
    slash = {command.name: command for command in ViperCog.__cog_app_commands__}
    for entry in for_platform(DISCORD):
        assert entry.name in slash, f"/{entry.name} is in the catalogue but not in the Discord cog"
        assert slash[entry.name].description == entry.description[:100]
        if entry.argument is not None:
            parameter = slash[entry.name].parameters[0]  # the catalogue's argument comes first (/imagine has options after it)
            assert (parameter.name, parameter.description) == (entry.argument.name, entry.argument.description)
    assert set(slash) == {entry.name for entry in for_platform(DISCORD)}
    for entry in for_platform(TELEGRAM):
        assert callable(getattr(TelegramHandlers, f"on_{entry.name}", None)), f"no TelegramHandlers.on_{entry.name}"
