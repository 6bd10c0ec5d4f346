-- Members of any platform, their taste profile, their onboarding comments and progress,
-- the gallery messages they can reply to, and every job the bot starts.
CREATE TABLE members (
    id               INTEGER PRIMARY KEY,
    platform         TEXT NOT NULL,
    platform_user_id TEXT NOT NULL,
    display_name     TEXT NOT NULL DEFAULT '',
    created_at       TEXT NOT NULL DEFAULT (datetime('now')),
    UNIQUE (platform, platform_user_id)
);

CREATE TABLE profiles (
    member_id       INTEGER PRIMARY KEY REFERENCES members(id) ON DELETE CASCADE,
    liked           TEXT NOT NULL,          -- JSON list of keywords
    disliked        TEXT NOT NULL,          -- JSON list of keywords
    backend         TEXT NOT NULL,
    backend_version TEXT NOT NULL DEFAULT '',
    updated_at      TEXT NOT NULL DEFAULT (datetime('now'))
);

CREATE TABLE comments (
    id         INTEGER PRIMARY KEY,
    member_id  INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    image_id   TEXT,
    text       TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX comments_member ON comments(member_id);

CREATE TABLE onboarding (
    member_id  INTEGER PRIMARY KEY REFERENCES members(id) ON DELETE CASCADE,
    state      TEXT NOT NULL,               -- active | paused | extracting | done (viper/contracts/states.py)
    page       INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL DEFAULT (datetime('now'))
);

CREATE TABLE posted_images (
    platform   TEXT NOT NULL,
    chat_id    TEXT NOT NULL,
    message_id TEXT NOT NULL,
    image_id   TEXT NOT NULL,
    PRIMARY KEY (platform, chat_id, message_id)
);

CREATE TABLE jobs (
    id         TEXT PRIMARY KEY,
    member_id  INTEGER REFERENCES members(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,               -- extract | generate
    platform   TEXT NOT NULL,
    chat_ref   TEXT NOT NULL DEFAULT '{}',  -- JSON: where to deliver (chat id, status message id...)
    prompt     TEXT NOT NULL DEFAULT '',
    status     TEXT NOT NULL,               -- queued | done | delivered | failed | cancelled (states.py)
    error      TEXT,
    created_at TEXT NOT NULL DEFAULT (datetime('now')),
    updated_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX jobs_status ON jobs(platform, status);
