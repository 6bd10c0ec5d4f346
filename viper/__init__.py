"""ViPer Bot: shared contracts (config, job payloads, errors) and the composition root (CLI).

Import rules: `viper.config`, `viper.jobs` and `viper.errors` import nothing from `bot`, `engine`
or `storage`; those three import them. Only `viper.cli` / `viper.app` wire everything together.
"""

__version__ = "0.1.0"
