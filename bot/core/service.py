"""`ViperBot`: every use case of the core behind one object, which adapters and the CLI hold."""

from __future__ import annotations

from bot.core.imagine import ImagineFlows
from bot.core.onboarding import OnboardingFlows
from bot.core.profiles import ProfileFlows


class ViperBot(OnboardingFlows, ProfileFlows, ImagineFlows):
    """The bot's behaviour, shared by every platform adapter and the CLI.

    Built by the composition root (`viper.app.open_runtime`) from the settings, the store, the queue
    and the gallery. Its methods raise `ViperError`s; `bot.messages.friendly` words them.
    """
