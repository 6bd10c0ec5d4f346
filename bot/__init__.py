"""The bot: a platform-neutral core (`bot.core`) and adapters for Discord and Telegram.

The core never imports torch, discord or telegram; adapters translate platform events into core
calls and core results (texts, gallery images, PNG bytes) into platform messages.
"""
