"""`ViperBot`: every use case of the core behind one object, which adapters and the CLI hold."""

from __future__ import annotations

from bot.core.imagine import ImagineFlows
from bot.core.onboarding import OnboardingFlows
from bot.core.people import PeopleFlows
from bot.core.profiles import ProfileFlows
from bot.core.servers import Place
from bot.core.types import MemberRef, Reply
from viper.contracts.errors import InvalidArgument

STALE_BUTTON = InvalidArgument("that button no longer does anything; /help lists what I can do", argument="button")


class ViperBot(OnboardingFlows, ProfileFlows, ImagineFlows, PeopleFlows):
    """The bot's behaviour, shared by every platform adapter and the CLI.

    Built by the composition root (`viper.app.open_runtime`) from the settings, the store, the queue
    and the gallery. Its methods raise `ViperError`s; `bot.messages.friendly` words them.
    """

    async def press(self, who: MemberRef, route: str, args: list[str], chat_ref: dict | None = None,
                    place: Place | None = None) -> Reply:
        """What a press of a core-made button (`Button.route` and `args`) does; both adapters send
        every such press here. `chat_ref` says where it happened, for images made because of it
        (✨ Mine lands where it was pressed). Buttons whose last argument is an owner's user id
        refuse everybody else."""
        owned = {"set": 3, "link": 3, "imp": 2}
        if route in owned:
            if len(args) != owned[route]:
                raise STALE_BUTTON
            self.check_owner(who, args[-1])
        if route == "act" and len(args) == 2:
            return await self.act(who, args[0], args[1], chat_ref or {}, place)
        if route == "undo" and len(args) == 1 and args[0].isdigit():
            return await self.undo(who, int(args[0]))
        if route == "set":
            return await self.change_setting(who, args[0], args[1])
        if route == "link":
            return await self.confirm_link(who, args[0], args[1])
        if route == "imp":
            return await self.answer_import(who, args[0])
        raise STALE_BUTTON
