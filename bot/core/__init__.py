"""The platform-neutral core: every member flow, written once for Discord, Telegram and the CLI.

- `onboarding`, `profiles`, `imagine`: the use cases, joined in `service.ViperBot`.
- `ports`: what an adapter implements so the core can talk back (`JobOutput`).
- `types`: the values the core hands out; `tasks`: the background-task registry.
The core imports no chat platform and no torch (checked by import-linter, see pyproject.toml).
"""

from bot.core.ports import DeliveryRefused, JobOutput
from bot.core.service import ViperBot
from bot.core.tasks import Background
from bot.core.types import Delivery, GalleryPage, MemberRef, OnboardingStatus, PagerView, Submitted, Update

__all__ = [
    "Background", "Delivery", "DeliveryRefused", "GalleryPage", "JobOutput", "MemberRef", "OnboardingStatus",
    "PagerView", "Submitted", "Update", "ViperBot",
]
