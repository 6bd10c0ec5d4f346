"""Profile use cases: show, fix in the member's own words, drop a feature, forget everything."""

from __future__ import annotations

import re
from pathlib import Path

from bot import messages
from bot.core.base import CoreBase
from bot.core.text import visible
from bot.core.types import MemberRef
from storage.store import Profile
from viper.contracts.errors import InvalidArgument

# A feature typed by a member (/like, /dislike): a few words, as SDXL reads them in a prompt.
MAX_FEATURE_CHARS = 40
# The most features a member can bring a profile to by hand: a sanity bound on storage and on the
# review screens (the text encoders read the first 77 tokens of each list; the newest come first).
MAX_PROFILE_FEATURES = 100


class ProfileFlows(CoreBase):
    async def profile(self, who: MemberRef) -> Profile | None:
        member = await self.known_member(who)
        return await self.store.profile(member.id) if member else None

    async def remove_feature(self, who: MemberRef, feature: str) -> Profile:
        """Drop one feature from the member's liked or disliked list."""
        profile = await self.profile(who)
        if profile is None:
            raise InvalidArgument("you have no taste profile yet", argument="profile")
        if feature not in profile.liked and feature not in profile.disliked:
            raise InvalidArgument(f"“{feature}” is not in your profile", argument="feature")
        liked = [f for f in profile.liked if f != feature]
        disliked = [f for f in profile.disliked if f != feature]
        await self.store.save_profile(profile.member_id, liked, disliked, profile.backend, profile.backend_version)
        return await self.store.profile(profile.member_id)

    async def add_taste(self, who: MemberRef, text: str | None, *, liked: bool, place=None) -> tuple[Profile, list[str]]:
        """Add features the member names ("teal, flowing lines") to their liked or disliked list.

        A feature already on the other list moves over, so this also fixes a feature extraction read
        the wrong way. Works without onboarding (the profile starts here). Returns the profile and
        the features added, in the member's words (lower case, spaces tidied).
        """
        features = list(dict.fromkeys(
            " ".join(visible(part).split()).lower() for part in re.split(r"[,;\n]+", text or "") if visible(part)
        ))
        if not features:
            raise InvalidArgument("name at least one feature, for example: teal, flowing lines", argument="features")
        long = [f for f in features if len(f) > MAX_FEATURE_CHARS]
        if long:
            raise InvalidArgument(
                f"“{long[0][:MAX_FEATURE_CHARS]}…” is too long for one feature (keep each under "
                f"{MAX_FEATURE_CHARS} characters, separated by commas)", argument="features",
            )
        for feature in features:
            await self.moderate(who, feature, "feature", place)
        member = await self.member(who)
        profile = await self.store.profile(member.id)
        target = list(profile.liked if liked else profile.disliked) if profile else []
        other = list(profile.disliked if liked else profile.liked) if profile else []
        other = [f for f in other if f not in features]
        target = features + [f for f in target if f not in features]  # the newest first: they weigh most
        if len(target) + len(other) > MAX_PROFILE_FEATURES:
            raise InvalidArgument(
                f"a profile holds at most {MAX_PROFILE_FEATURES} features; remove some first (/profile)",
                argument="features",
            )
        new_liked, new_disliked = (target, other) if liked else (other, target)
        backend = profile.backend if profile else "member"
        await self.store.save_profile(member.id, new_liked, new_disliked, backend, profile.backend_version if profile else "")
        return await self.store.profile(member.id), features

    async def stored_about(self, who: MemberRef) -> list[str] | None:
        """What the store holds about the member, phrase by phrase; None when it holds nothing."""
        member = await self.known_member(who)
        if member is None:
            return None
        return messages.stored_about(
            await self.store.profile(member.id), await self.store.comment_count(member.id),
            await self.store.onboarding(member.id) is not None, member.display_name, who.platform,
            images=len(await self.store.result_paths(member.id)),
            accounts=[a.label for a in await self.store.accounts(member.id)],
        )

    async def forget(self, who: MemberRef) -> bool:
        """Delete everything stored about the member: profile, comments, progress, jobs (and their
        results in Redis), and which gallery images were posted in their private chat. Adapters ask for confirmation first.
        Returns False when there was nothing to delete."""
        member = await self.known_member(who)
        if member is None:
            return False
        # Redis first: if it is down, nothing is deleted and the member can try again.
        if self.queue is not None:
            await self.queue.forget(await self.store.job_ids(member.id))
        images = await self.store.result_paths(member.id)
        # A member's private chat has their user id on both platforms that keep such records.
        await self.store.forget_member(member.id, private_chat=(who.platform, who.user_id))
        for path in images:  # the images made for them, kept for their buttons
            Path(path).unlink(missing_ok=True)
        return True
