"""ViPer Bot's shared package: the contracts every layer uses, and the composition root above them.

- `viper.contracts`: settings, job payloads, errors and states; imports nothing of ours.
- `viper.app` (wiring), `viper.cli` (the `viper` command) and `viper.redis_server` (the embedded
  Redis): the top of the graph; nothing in `bot`, `engine` or `storage` imports them.
See docs/ARCHITECTURE.md.
"""

__version__ = "0.1.0"
