"""Contracts shared by every layer: settings, job payloads and the wire, domain errors, states.

Nothing here imports `bot`, `engine`, `storage` or the rest of `viper`; everything else may import
this package. The import-linter contracts in pyproject.toml check it.
"""
