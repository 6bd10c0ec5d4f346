"""What the CLI's commands share: its logger, reading the settings, the user's umask."""

from __future__ import annotations

import argparse
import logging

from viper.contracts.config import Settings, load_settings

log = logging.getLogger("viper")

USER_UMASK = 0o022
"""The umask `viper` was started with: files the user asked for (`imagine -o`) are made with it."""


def settings_of(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)
