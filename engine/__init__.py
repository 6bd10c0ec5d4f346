"""The engine: preference extraction and personalised SDXL generation, run by arq workers.

Never imports discord or telegram. Heavy imports (torch, diffusers, transformers) happen inside the
modules that need them, so `import engine` stays cheap.
"""
