"""Operator-facing texts of the CLI (members' texts live in bot.messages)."""

from __future__ import annotations


def no_token_help() -> str:
    return (
        "No chat platform token is set, so no bot is connected (the worker still runs; try `viper imagine`).\n"
        "To connect one, set its environment variable and run `viper up` again:\n"
        "  TELEGRAM_TOKEN  talk to @BotFather on Telegram, send /newbot, copy the token it gives you.\n"
        "  DISCORD_TOKEN   create an application in the Discord Developer Portal, add a Bot, copy its token,\n"
        "                  and invite it with the 'bot' and 'applications.commands' scopes."
    )
