-- The creative loop: what every /imagine asked for (so its image can be rerolled, varied, compared
-- or made again in another member's taste after a restart, even once the profile changed), the
-- image each finished job made, the messages that show it, members' verdicts on images, members'
-- /imagine defaults, and the profiles that extraction replaced (for Undo).

-- JSON: the GenerateRequest as queued, without image bytes, plus the action that made it
-- ("imagine", "reroll", "vary", "compare", "mine") and the job it came from.
ALTER TABLE jobs ADD COLUMN request TEXT NOT NULL DEFAULT '{}';

CREATE TABLE results (
    job_id     TEXT PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
    member_id  INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    made       TEXT NOT NULL,              -- JSON: the GenerateResult without its PNG
    png_path   TEXT NOT NULL,              -- the PNG, under <data_dir>/results
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX results_member ON results(member_id);

-- Which bot message shows which result, so a reply to it is a comment on that image.
CREATE TABLE result_messages (
    platform   TEXT NOT NULL,
    chat_id    TEXT NOT NULL,
    message_id TEXT NOT NULL,
    job_id     TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    PRIMARY KEY (platform, chat_id, message_id)
);

-- 👍 (1) or 👎 (-1): one verdict per member per image, changeable.
CREATE TABLE feedback (
    job_id     TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    member_id  INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    verdict    INTEGER NOT NULL CHECK (verdict IN (-1, 1)),
    updated_at TEXT NOT NULL DEFAULT (datetime('now')),
    PRIMARY KEY (job_id, member_id)
);

-- /settings: a member's defaults for /imagine (NULL: the operator's) and where results go.
CREATE TABLE member_settings (
    member_id INTEGER PRIMARY KEY REFERENCES members(id) ON DELETE CASCADE,
    ar        TEXT,
    strength  REAL,
    steps     INTEGER,
    delivery  TEXT NOT NULL DEFAULT 'channel'  -- channel | private
);

-- A profile as it was before extraction replaced it; Undo puts it back exactly.
CREATE TABLE profile_history (
    id              INTEGER PRIMARY KEY,
    member_id       INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    existed         INTEGER NOT NULL,       -- 0: the member had no profile then
    liked           TEXT NOT NULL DEFAULT '[]',
    disliked        TEXT NOT NULL DEFAULT '[]',
    backend         TEXT NOT NULL DEFAULT '',
    backend_version TEXT NOT NULL DEFAULT '',
    updated_at      TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX profile_history_member ON profile_history(member_id);
