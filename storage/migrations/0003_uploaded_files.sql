-- What a platform already holds of our files: Telegram answers an upload with a file id that the
-- bot can send again instead of the bytes. The key names the file by its content (gallery image id
-- and a digest of its bytes), so a rebuilt gallery never reuses an old picture's id.
CREATE TABLE uploaded_files (
    platform   TEXT NOT NULL,
    file_key   TEXT NOT NULL,
    file_id    TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (datetime('now')),
    PRIMARY KEY (platform, file_key)
);
