"""The `JobOutput` of one Discord /imagine: the interaction webhook while its token lives, the channel after.

An image goes out with the core's action buttons under it (`Delivery.rows`, drawn by
`components.rows_view`). A member whose /settings say "private" gets it as an ephemeral follow-up
on the interaction, or in a direct message once the token has expired; never in the channel. An
image the safety check flagged goes behind a spoiler when the core says so (`Delivery.spoiler`,
`[moderation] nsfw_policy`); one the core withholds never reaches the port.
"""

from __future__ import annotations

import io
import logging
import time
from typing import Any

import discord

from bot import messages
from bot.adapters.discord.components import review, rows_view
from bot.commands import DISCORD, TELEGRAM
from bot.core.ports import DeliveryRefused
from bot.core.types import Delivery, Posted
from storage.store import Profile

log = logging.getLogger("viper.discord")

MESSAGE_LIMIT = 2000
# Discord accepts follow-ups and edits through an interaction token for 15 minutes; keep a margin.
TOKEN_LIFETIME_S = 15 * 60 - 30


def chat_ref(interaction: discord.Interaction) -> dict[str, Any]:
    """What a restarted bot needs to reach the member again."""
    return {
        "application_id": str(interaction.application_id), "interaction_id": str(interaction.id),
        "token": interaction.token, "issued_at": time.time(),
        "channel_id": str(interaction.channel_id) if interaction.channel_id else None,
        "guild_id": str(interaction.guild_id) if interaction.guild_id else None,
        "user_id": str(interaction.user.id),
    }


class DiscordJobOutput:
    done_line = messages.DONE_LINE[DISCORD]

    def __init__(self, client: discord.Client, ref: dict[str, Any]):
        self.client, self.ref = client, ref
        if ref.get("private"):  # the image is a private follow-up right under the status, not in the channel
            self.done_line = messages.DONE_LINE[TELEGRAM]
        self.hook = self._webhook()
        self.status_id = int(ref["status_message_id"]) if ref.get("status_message_id") else None

    def _webhook(self) -> discord.Webhook | None:
        """The interaction's webhook while its token is still accepted by Discord."""
        ref = self.ref
        if not ref.get("token") or not ref.get("application_id"):
            return None
        if time.time() - float(ref.get("issued_at", 0)) > TOKEN_LIFETIME_S:
            return None
        hook = discord.Webhook.partial(int(ref["application_id"]), ref["token"], client=self.client)
        hook.type = discord.WebhookType.application  # an interaction's webhook: it may answer privately
        return hook

    async def status(self, text: str, *, final: bool = False) -> bool:
        if self.hook is None or self.status_id is None:
            return False
        try:
            # Progress edits leave the Cancel button alone; the final one takes it away.
            extra: dict[str, Any] = {"view": None} if final else {}
            await self.hook.edit_message(self.status_id, content=messages.fit(text, MESSAGE_LIMIT), **extra)
            return True
        except discord.HTTPException as e:
            log.info("cannot edit a status message any more: %s", e)
            self.hook = None
            return False

    async def new_status(self, text: str) -> bool:
        return False  # a status message lives only as long as its interaction; the image still comes

    async def profile_ready(self, profile: Profile) -> None:
        if self.hook is None:  # the interaction is gone: /profile shows it
            log.info("a profile was built after a restart; its member sees it with /profile")
            return
        await self.hook.send(ephemeral=True, **review(int(self.ref["user_id"]), profile, messages.LEARNED))

    async def text(self, text: str) -> None:
        try:
            if self.ref.get("private") and self.ref.get("user_id"):  # what a private job says stays private
                channel = await self.client.create_dm(discord.Object(int(self.ref["user_id"])))
                await channel.send(messages.fit(text, MESSAGE_LIMIT))
            else:
                await self._in_channel(text, None)
        except discord.HTTPException as e:
            log.warning("could not tell member %s: %s", self.ref.get("user_id"), e)

    async def image(self, delivery: Delivery) -> Posted | bool:
        caption = messages.fit("\n".join([delivery.caption, *delivery.notes]), MESSAGE_LIMIT)
        private = delivery.private or bool(self.ref.get("private"))

        def png() -> discord.File:
            return discord.File(io.BytesIO(delivery.result.png), filename=f"viper-{delivery.result.seed}.png",
                                description=caption[:1000], spoiler=delivery.spoiler)

        def buttons() -> Any:  # a fresh view for each attempt: discord.py keeps the one it sent
            return rows_view(delivery.rows) or discord.utils.MISSING

        try:
            if self.hook is not None:
                try:
                    sent = await self.hook.send(caption, file=png(), view=buttons(), ephemeral=private, wait=True)
                    return Posted(str(sent.channel.id), str(sent.id))
                except (discord.NotFound, discord.Forbidden) as e:
                    log.info("the interaction token of job %s is no longer valid (%s)", delivery.job_id, e)
                except discord.HTTPException as e:
                    if e.status != 401:
                        raise
                    log.info("the interaction token of job %s expired", delivery.job_id)
            if private:
                sent = await self._in_dm(caption, png(), buttons(), delivery.job_id)
            else:
                sent = await self._in_channel(caption, png(), buttons())
            return Posted(str(sent.channel.id), str(sent.id)) if sent is not None else True
        except discord.HTTPException:
            log.exception("delivering job %s failed; it is retried at the next start", delivery.job_id)
            return False

    async def _in_dm(self, text: str, file: discord.File, view: Any, job_id: str) -> discord.Message:
        """A direct message to the member (a private image once the interaction token has expired)."""
        if not self.ref.get("user_id"):
            raise DeliveryRefused("a private image has no member to send it to")
        channel = await self.client.create_dm(discord.Object(int(self.ref["user_id"])))
        try:
            return await channel.send(text, file=file, view=view)
        except discord.Forbidden as e:  # the member does not accept direct messages from the bot
            log.info("member %s refuses direct messages; private job %s is not posted", self.ref["user_id"], job_id)
            raise DeliveryRefused(f"the member's direct messages are closed ({e.text or e.status})") from e

    async def _in_channel(self, text: str, file: discord.File | None, view: Any = discord.utils.MISSING
                          ) -> discord.Message | None:
        """Post in the member's channel, mentioning them (used once the interaction token is gone)."""
        ref = self.ref
        if not ref.get("channel_id"):
            log.warning("a job has no channel to post in")
            return None
        guild = int(ref["guild_id"]) if ref.get("guild_id") else None
        channel = self.client.get_partial_messageable(int(ref["channel_id"]), guild_id=guild)
        mention = f"<@{ref['user_id']}> " if ref.get("user_id") else ""
        kwargs: dict[str, Any] = {"allowed_mentions": discord.AllowedMentions(everyone=False, roles=False, users=True)}
        if file is not None:
            kwargs["file"] = file
        return await channel.send(messages.fit(mention + text, MESSAGE_LIMIT), view=view, **kwargs)
