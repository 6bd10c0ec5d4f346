-- Where a member is in the gallery: the Discord pager's image index, and the image a Telegram
-- member tapped (by number) and is about to comment on.
ALTER TABLE onboarding ADD COLUMN position INTEGER NOT NULL DEFAULT 0;
ALTER TABLE onboarding ADD COLUMN pending_image_id TEXT;
