-- Busy servers: what each Discord server's or Telegram group's admins set, the terms they block,
-- the refusals admins can review, and which server or group every job came from.

-- "platform:scope id" (a Discord guild id, a Telegram group chat id); NULL for private chats.
ALTER TABLE jobs ADD COLUMN scope TEXT;
CREATE INDEX jobs_scope ON jobs(scope, created_at);
CREATE INDEX jobs_member_created ON jobs(member_id, created_at);

CREATE TABLE scope_settings (
    scope          TEXT PRIMARY KEY,          -- platform:scope id
    images_per_day INTEGER,                   -- NULL: [limits] images_per_day
    cooldown_s     REAL,                      -- NULL: [limits] cooldown_s
    channels       TEXT NOT NULL DEFAULT '[]',-- JSON list of channel ids where /imagine works; empty: all
    paused         INTEGER NOT NULL DEFAULT 0,
    held_jobs      TEXT NOT NULL DEFAULT '{}',-- JSON job id -> queue score, while paused
    updated_at     TEXT NOT NULL DEFAULT (datetime('now'))
);

CREATE TABLE scope_terms (
    scope      TEXT NOT NULL,
    term       TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (datetime('now')),
    PRIMARY KEY (scope, term)
);

-- A refused request: who, when, which rule (and the text only with [moderation] log_text = true).
CREATE TABLE refusals (
    id         INTEGER PRIMARY KEY,
    scope      TEXT,
    member_id  INTEGER REFERENCES members(id) ON DELETE CASCADE,
    rule       TEXT NOT NULL,                 -- term | pattern | images_per_day | cooldown | paused | channel ...
    detail     TEXT NOT NULL DEFAULT '',      -- which term or pattern (the admins' own words)
    what       TEXT NOT NULL DEFAULT '',      -- prompt | no | feature | comment | imagine
    text       TEXT,
    at         TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX refusals_scope ON refusals(scope, at);
