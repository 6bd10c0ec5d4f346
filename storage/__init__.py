"""Storage: members, profiles, comments, onboarding progress and jobs in one SQLite file (aiosqlite)."""
