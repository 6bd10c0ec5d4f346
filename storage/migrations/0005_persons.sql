-- One person above platform accounts: a Telegram and a Discord account linked with /link share one
-- profile. Every existing member becomes a person of their own, whose id is the member's id.
--
-- The data of a person (profile, comments, onboarding, jobs, results, verdicts, settings, profile
-- snapshots) keeps its `member_id` column, which names the person's *home* account: the account
-- the person started with, whose id is the person's id. Linking moves the other account's rows to
-- the home account; deleting the person deletes every account (and, by cascade, all their rows).
CREATE TABLE persons (
    id         INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
INSERT INTO persons(id) SELECT id FROM members;
ALTER TABLE members ADD COLUMN person_id INTEGER REFERENCES persons(id) ON DELETE CASCADE;
UPDATE members SET person_id = id;
CREATE INDEX members_person ON members(person_id);

-- `/profile share`: codes that stand for a person's profile as it is now and as it changes.
CREATE TABLE share_codes (
    code       TEXT PRIMARY KEY,            -- vp-XXXXXXXX
    person_id  INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX share_codes_person ON share_codes(person_id);

-- `/link`: one-time codes, valid for 10 minutes, that join a second platform's account.
CREATE TABLE link_codes (
    code       TEXT PRIMARY KEY,
    person_id  INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    platform   TEXT NOT NULL,               -- where the code was shown: it is used on the other one
    expires_at TEXT NOT NULL
);

-- Share-code lookups by a member, so codes can't be enumerated (rate limited per account).
CREATE TABLE code_lookups (
    account_id INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    found      INTEGER NOT NULL,
    at         TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX code_lookups_account ON code_lookups(account_id, at);

-- `/profile import`: a checked document waiting for the member's confirmation (survives a restart).
CREATE TABLE pending_imports (
    person_id  INTEGER PRIMARY KEY REFERENCES persons(id) ON DELETE CASCADE,
    document   TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
