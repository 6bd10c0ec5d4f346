"""Telegram handlers: python-telegram-bot updates in, core calls, messages and keyboards out.

Onboarding happens in the member's private chat: an album of numbered gallery images and a keyboard
of numbers; a member comments by replying to an image, or by tapping its number and typing. In a
group, personal commands answer with a button that opens the private chat (`t.me/<bot>?start=<what>`).
All state lives in SQLite through the core; what is kept here is cosmetic (which number keyboard to
tick) or a cache (Telegram file ids of gallery images, also remembered in SQLite).

Every delivered image carries the core's action buttons (`buttons.TelegramButtons.press`), and a
reply to it (or to its 💬 Why prompt) is a comment on it that teaches the profile. /imagine passes
its whole text, flags included, to the core; `follow_new` shows a new job's status and follows it,
after /imagine and after an action button alike.

Profiles that travel: `/profile share|unshare|export|import`, `/link [CODE]` and `/unlink` are
personal, so in a group their answers go to the member's private chat (`personal`). An import is a
document sent with the caption `/profile import` (`on_import_file`): its size is checked before
it is downloaded, and the core shows what would change, with buttons, before anything does.

Busy groups: every update that reaches the core carries its `Place` (`servers.Places`: the
group, the topic, whether the member administers it), so the core applies the group's limits, its
blocked terms and its pause; its refusals are answered with `messages.friendly`. `/usage` answers in
place (counts only); `/admin ...` maps to the core's admin controls (`servers.admin_call`) and asks
Telegram afresh whether the member is an admin. `gate` runs before every other handler: a group left
out of `[telegram] allowed_chats` hears one sentence for a command of ours, and nothing else.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from telegram import InputMediaPhoto, Message, ReplyParameters, Update
from telegram.constants import ChatAction, ChatType, MessageEntityType
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot import messages
from bot.adapters.telegram import keyboards
from bot.adapters.telegram.port import TEXT_LIMIT, TelegramJobOutput, edit
from bot.adapters.telegram.servers import Places, admin_call
from bot.commands import ONBOARD_COMMAND, TELEGRAM, command, for_platform
from bot.core import Background, GalleryPage, MemberRef, OnboardingStatus, Submitted, ViperBot
from bot.core.codes import read_link_code
from bot.core.servers import Place
from bot.core.types import Reply
from bot.core.uploads import UploadCache
from storage.store import JobRecord
from viper.contracts.config import Settings
from viper.contracts.errors import InvalidArgument, NotYours, ViperError

log = logging.getLogger("viper.telegram")

START = ONBOARD_COMMAND[TELEGRAM]
EXPORT_FILENAME = "viper-profile.json"
# The caption of a document that is a profile to import: `/profile import` (`/profile@bot import`).
IMPORT_CAPTION = re.compile(r"\A/profile(?:@(?P<bot>[A-Za-z0-9_]{1,64}))?[ \t\n]+import[ \t\n]*\Z", re.IGNORECASE)
# The deep link of a group's open-private-chat button, when it is not the command's own name: a
# link that anyone can post must not revoke or split anything by itself, so those show the profile.
DEEP_LINK = {"more": "onboard", "unshare": "profile", "unlink": "profile"}

Personal = Callable[[int, MemberRef], Awaitable[None]]  # (the chat to answer in, the member)


def who_of(update: Update) -> MemberRef:
    user = update.effective_user
    if user is None:  # channel posts and the like carry no user; the filters keep them out
        raise ViperError("I can only talk to people, not to channels")
    return MemberRef(TELEGRAM, str(user.id), user.full_name or user.username or "")


def argument_of(text: str | None) -> str:
    """What follows the command word (`/imagine@bot a red fox` -> `a red fox`), newlines kept."""
    parts = (text or "").split(maxsplit=1)
    return parts[1] if len(parts) == 2 else ""


def is_private(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type == ChatType.PRIVATE


@dataclass
class NumberKeyboard:
    """The last number keyboard a member was shown (kept in memory only: ticking it is cosmetic)."""

    chat_id: int
    message_id: int
    page: int
    markup: dict


class TelegramHandlers:
    def __init__(self, core: ViperBot, settings: Settings):
        self.core, self.settings = core, settings
        self.bot = None  # the PTB Bot, set by `register`
        self.tasks = Background()
        self.uploads = UploadCache(core.store, TELEGRAM)
        self.places = Places(settings)
        self._numbers: dict[str, NumberKeyboard] = {}  # user id -> their latest number keyboard

    async def place_of(self, update: Update, *, fresh: bool = False) -> Place:
        """Where a member's message comes from, for the core's limits and rules (`fresh`: ask
        Telegram again whether they administer the group)."""
        return await self.places.place(self.bot, update.effective_chat, update.effective_user,
                                       update.effective_message, fresh=fresh)

    async def gate(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Before any other handler: a group that `[telegram] allowed_chats` leaves out is not
        served. A command of ours there gets one sentence; a press is answered silently (its
        button stops spinning), and anything else is ignored."""
        if self.places.served(update.effective_chat):
            return
        if update.callback_query is not None:
            try:
                await update.callback_query.answer()
            except TelegramError as e:
                log.info("could not answer a button press: %s", e)
        elif update.message is not None and self.is_our_command(update.message):
            await update.message.reply_text(messages.NOT_SERVED_HERE)
        raise ApplicationHandlerStop

    def is_our_command(self, message: Message) -> bool:
        """`/name` or `/name@<this bot>` at the start of the message, for a command of ours."""
        entity = (message.entities or (None,))[0]
        if entity is None or entity.type != MessageEntityType.BOT_COMMAND or entity.offset != 0:
            return False
        name, _, bot = message.parse_entity(entity)[1:].partition("@")
        if bot and bot.lower() != (self.bot.username or "").lower():
            return False
        return name.lower() in {c.name for c in for_platform(TELEGRAM)}

    async def say(self, chat_id: int, text: str, markup=None, reply_to: int | None = None) -> Message:
        """Send `text` (with `markup`), as a reply to message `reply_to` when it is given (and still there)."""
        reply = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
        return await self.bot.send_message(chat_id, messages.fit(text, TEXT_LIMIT), reply_markup=markup,
                                           reply_parameters=reply)

    async def show(self, chat_id: int, reply: Reply, reply_to: int | None = None) -> Message | None:
        """A core `Reply`'s text and buttons as a new message (None when it has no text)."""
        if not reply.text:
            return None
        return await self.say(chat_id, reply.text, keyboards.rows(reply.rows), reply_to)

    async def to_private(self, update: Update, what: str, text: str | None = None) -> None:
        link = keyboards.private_link(self.bot.username, DEEP_LINK.get(what, what))
        await update.effective_message.reply_text(text or messages.TO_PRIVATE[what], reply_markup=link)

    async def personal(self, update: Update, what: str, action: Personal) -> None:
        """Run `action`, whose answer is the member's own business, in their private chat.

        In a group, a typing indicator first checks that the bot may write there, so nothing is
        done (no code made, nothing revoked) for an answer that could not arrive; when Telegram
        refuses (the member never opened that chat), the group gets the open-private-chat button
        (`TO_PRIVATE[what]`). A refusal by the core is said where the answer would have been."""
        who = who_of(update)
        private = is_private(update)
        chat_id = update.effective_chat.id if private else int(who.user_id)
        if not private:
            try:
                await self.bot.send_chat_action(chat_id, ChatAction.TYPING)
            except (Forbidden, BadRequest) as e:
                if isinstance(e, BadRequest) and "chat not found" not in e.message.lower():
                    raise
                return await self.to_private(update, what)
        try:
            await action(chat_id, who)
        except ViperError as e:
            await self.say(chat_id, messages.friendly(e), reply_to=update.effective_message.message_id if private else None)
        if not private:
            sent = messages.PROFILE_SENT_PRIVATELY if what == "profile" else messages.ANSWERED_PRIVATELY
            await update.effective_message.reply_text(sent)

    # -- onboarding -----------------------------------------------------------------------------

    async def on_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not is_private(update):
            return await self.to_private(update, "onboard")
        who, chat_id = who_of(update), update.effective_chat.id
        payload = context.args[0] if context.args else ""
        deep_links = {"done": self.done, "redo": self.ask_redo, "forget": self.ask_forget, "profile": self.send_profile,
                      "share": self.send_share, "export": self.send_export, "import": self.how_to_import,
                      "link": self.link}
        if payload in deep_links:  # a deep link from a group: carry on with what was asked there
            return await deep_links[payload](chat_id, who)
        await self.show_onboarding(chat_id, who, await self.core.start_onboarding(who))

    async def show_onboarding(self, chat_id: int, who: MemberRef, status: OnboardingStatus) -> None:
        await self.say(chat_id, await self.core.intro(who, status))
        await self.post_page(chat_id, who, status.page)

    async def on_more(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not is_private(update):
            return await self.to_private(update, "more")
        who = who_of(update)
        await self.post_page(update.effective_chat.id, who, await self.core.next_page(who))

    async def post_page(self, chat_id: int, who: MemberRef, page: GalleryPage) -> None:
        """A gallery page as one album with numbered captions, then its number keyboard. Each photo's
        image is remembered, so a reply to it (even after a restart) is a comment on it."""
        if not page.images:
            await self.say(chat_id, messages.GALLERY_EMPTY)
            return
        try:
            sent = await self._send_album(chat_id, page, use_cache=True)
        except BadRequest as e:
            if not [image for image in page.images if await self.uploads.get(image)]:
                raise  # not about a remembered file id
            log.info("re-uploading the gallery after Telegram refused a cached file id: %s", e)
            await self.uploads.forget()
            sent = await self._send_album(chat_id, page, use_cache=False)
        await self.uploads.remember([(image, msg.photo[-1].file_id) for msg, image in zip(sent, page.images) if msg.photo])
        for msg, image in zip(sent, page.images):
            await self.core.store.remember_posted_image(TELEGRAM, chat_id, msg.message_id, image.id)
        markup = keyboards.numbers(page, await self.core.page_marks(who))
        keyboard = await self.say(chat_id, await self.core.page_footer(who, page), markup)
        self._numbers[who.user_id] = NumberKeyboard(chat_id, keyboard.message_id, page.page, markup.to_dict())

    async def _send_album(self, chat_id: int, page: GalleryPage, *, use_cache: bool) -> tuple[Message, ...]:
        media = []
        for number, image in enumerate(page.images, start=page.first_number):
            cached = await self.uploads.get(image) if use_cache else None
            name = None if cached else image.path.name
            media.append(InputMediaPhoto(cached or image.path.read_bytes(), caption=f"#{number}", filename=name))
        if len(media) == 1:  # an album needs at least two items
            return (await self.bot.send_photo(chat_id, media[0].media, caption=media[0].caption),)
        return await self.bot.send_media_group(chat_id, media)

    async def tick_numbers(self, who: MemberRef) -> None:
        """Bring the member's latest number keyboard up to date (✓ and ✍), when it changed."""
        keyboard = self._numbers.get(who.user_id)
        if keyboard is None:
            return
        markup = keyboards.numbers(self.core.gallery_page(keyboard.page), await self.core.page_marks(who))
        if markup.to_dict() != keyboard.markup and await edit(
            self.bot, keyboard.chat_id, keyboard.message_id, None, markup
        ):
            keyboard.markup = markup.to_dict()

    async def comment(self, message: Message, who: MemberRef, image_id: str, retry: str) -> None:
        """Store `message` as the member's comment on `image_id` and answer with the running count."""
        try:
            count = await self.core.add_comment(who, image_id, message.text)
        except InvalidArgument as e:
            if e.argument not in ("comment", "onboarding", "moderation"):
                raise
            busy = e.argument == "onboarding"
            await message.reply_text(messages.COMMENT_WHILE_BUILDING if busy else messages.comment_refused(e, retry))
            return
        await message.reply_text(self.core.comment_ack(count))
        await self.tick_numbers(who)

    async def on_reply(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        replied = message.reply_to_message
        image_id = await self.core.store.posted_image(TELEGRAM, message.chat_id, replied.message_id)
        if image_id is None:  # a reply to an image made for a member, or to its 💬 Why prompt
            job_id = await self.core.store.result_message(TELEGRAM, message.chat_id, replied.message_id)
            if job_id is not None:
                return self.comment_on_result(message, who_of(update), job_id)
        if image_id is None and update.message is not None and is_private(update):
            # A member who tapped a number may well type their comment as a reply to anything.
            pending = await self.core.chosen_image(who_of(update))
            image_id = pending.id if pending else None
        if image_id is None:
            # In groups people reply to each other all the time: only speak up for replies to the bot.
            from_bot = replied.from_user is not None and replied.from_user.id == context.bot.id
            if message.chat.type == ChatType.PRIVATE or from_bot:
                await message.reply_text(messages.NOT_A_GALLERY_IMAGE)
            return
        await self.comment(message, who_of(update), image_id, messages.RETRY_REPLY)

    def comment_on_result(self, message: Message, who: MemberRef, job_id: str) -> None:
        """A reply to a delivered image (or to its 💬 Why prompt) is a comment on that result. It may
        rebuild the profile, so it runs in the background; the answer (with ↩ Undo once the profile
        changed) replies to the comment. Another member's reply is no comment: in a group people
        reply to each other's images all the time, so only a private chat hears about it."""
        chat_id, private = message.chat_id, message.chat.type == ChatType.PRIVATE
        chat_ref = {"chat_id": chat_id, "reply_to": message.message_id, "user_id": who.user_id}

        async def comment() -> None:
            try:
                place = await self.places.place(self.bot, message.chat, message.from_user, message)
                reply = await self.core.comment_on_result(
                    who, job_id, message.text, chat_ref,
                    on_started=lambda n: self.say(chat_id, messages.rereading(n), reply_to=message.message_id),
                    place=place,
                )
            except NotYours as e:
                if private:
                    await self.say(chat_id, messages.friendly(e), reply_to=message.message_id)
                return
            except ViperError as e:
                await self.say(chat_id, messages.friendly(e), reply_to=message.message_id)
                return
            await self.show(chat_id, reply, reply_to=message.message_id)

        self.tasks.spawn(comment(), f"viper-why-{job_id}-{message.message_id}")

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        who = who_of(update)
        pending = await self.core.chosen_image(who)
        if pending is not None:
            retry = messages.retry_typing(self.core.image_number(pending.id))
            return await self.comment(update.effective_message, who, pending.id, retry)
        await update.effective_message.reply_text(await self.core.unplaced_text(who))

    async def on_cancel(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        who = who_of(update)
        await update.effective_message.reply_text(await self.core.pause(who))
        await self.tick_numbers(who)  # drop the ✍ of a tapped number

    async def on_done(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not is_private(update):
            return await self.to_private(update, "done")
        await self.done(update.effective_chat.id, who_of(update))

    async def done(self, chat_id: int, who: MemberRef) -> None:
        count, need = await self.core.comment_count(who), self.core.min_comments
        if count < need:
            await self.say(chat_id, messages.too_few_comments(count, need))
            return
        async def finish() -> None:
            try:
                profile = await self.core.finish_onboarding(
                    who, {"chat_id": chat_id, "user_id": who.user_id}, on_started=lambda n: self.say(chat_id, messages.analysing(n))
                )
            except ViperError as e:
                await self.say(chat_id, messages.friendly(e))
                return
            self._numbers.pop(who.user_id, None)
            await self.say(chat_id, *keyboards.profile_view(profile, who.user_id))

        self.tasks.spawn(finish(), f"viper-extract-{who.user_id}")

    # -- profile --------------------------------------------------------------------------------

    async def on_profile(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """`/profile` and `/profile share|unshare|export`: a member's taste is their own business, so
        in a group the answer goes to the private chat. `/profile import` comes with a file
        (`on_import_file`); typed alone, it says how."""
        message = update.effective_message
        word = argument_of(message.text).strip().lower()
        actions: dict[str, Personal] = {"": self.send_profile, "share": self.send_share, "unshare": self.send_unshare,
                                        "export": self.send_export}
        if word == "import":
            if not is_private(update):
                return await self.to_private(update, "import")
            return await self.how_to_import(message.chat_id, who_of(update))
        if word not in actions:
            return await message.reply_text(messages.PROFILE_USAGE)
        await self.personal(update, word or "profile", actions[word])

    async def send_profile(self, chat_id: int, who: MemberRef) -> None:
        await self.say(chat_id, *keyboards.profile_view(await self.core.profile(who), who.user_id))

    async def send_share(self, chat_id: int, who: MemberRef) -> None:
        await self.say(chat_id, await self.core.share(who))

    async def send_unshare(self, chat_id: int, who: MemberRef) -> None:
        await self.say(chat_id, await self.core.unshare(who))

    async def send_export(self, chat_id: int, who: MemberRef) -> None:
        """The profile, comments, verdicts and settings as a JSON file (UTF-8, indented: readable)."""
        document = await self.core.export_profile(who)
        data = json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")
        await self.bot.send_document(chat_id, data, filename=EXPORT_FILENAME, caption=messages.EXPORT_CAPTION)

    async def how_to_import(self, chat_id: int, who: MemberRef) -> None:
        await self.say(chat_id, messages.IMPORT_HOW)

    async def on_import_file(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A document with the caption `/profile import`: refused by its size before any download,
        then checked by the core, which answers with what would change and the buttons that apply
        it (nothing changes before the press). In a group, the answer goes to the private chat."""
        message = update.effective_message
        addressed = IMPORT_CAPTION.match(message.caption or "")
        if addressed is None or (addressed["bot"] and addressed["bot"].lower() != (self.bot.username or "").lower()):
            return  # a command for another bot in the same group
        document = message.document

        async def ask(chat_id: int, who: MemberRef) -> None:
            self.core.check_import_size(document.file_size or 0)
            file = await self.bot.get_file(document.file_id)
            data = bytes(await file.download_as_bytearray())
            reply = await self.core.ask_import(who, data)
            await self.show(chat_id, reply, message.message_id if chat_id == message.chat_id else None)

        await self.personal(update, "import", ask)

    async def on_loose_file(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A JSON document without the import caption, in private: most likely an export sent back."""
        await update.effective_message.reply_text(messages.IMPORT_HOW)

    async def on_like(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.add_taste(update, liked=True)

    async def on_dislike(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.add_taste(update, liked=False)

    async def add_taste(self, update: Update, *, liked: bool) -> None:
        message = update.effective_message
        text = argument_of(message.text)
        if not text.strip():
            example = command("like" if liked else "dislike").argument.example
            return await message.reply_text(messages.taste_usage(liked, example))
        try:
            profile, added = await self.core.add_taste(who_of(update), text, liked=liked, place=await self.place_of(update))
        except InvalidArgument as e:  # a bad feature, or one this group's rules refuse
            return await message.reply_text(messages.fit(messages.friendly(e), TEXT_LIMIT))
        reply = messages.taste_added(added, liked)
        if is_private(update):  # a member's whole taste is shown in private only
            reply += "\n\n" + messages.format_profile(profile, START)
        await message.reply_text(messages.fit(reply, TEXT_LIMIT))

    # -- one person on two platforms ----------------------------------------------------------------------

    async def on_link(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """`/link` shows a one-time code; `/link CODE` asks what to do with the two profiles. Codes
        are secrets: in a group neither is shown nor taken, and a code typed there is cancelled
        (anyone in the group could use it first)."""
        code = argument_of(update.effective_message.text).strip()
        if not is_private(update):
            seen = read_link_code(code) if code else None
            if seen is not None:
                await self.core.store.drop_link_code(seen)
                return await self.to_private(update, "link", messages.LINK_CODE_IN_GROUP)
            return await self.to_private(update, "link")
        await self.link(update.effective_chat.id, who_of(update), code)

    async def link(self, chat_id: int, who: MemberRef, code: str = "") -> None:
        if not code:
            return await self.say(chat_id, await self.core.start_link(who))
        await self.show(chat_id, await self.core.ask_link(who, code))

    async def on_unlink(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self.personal(update, "unlink", self.send_unlink)

    async def send_unlink(self, chat_id: int, who: MemberRef) -> None:
        await self.say(chat_id, await self.core.unlink(who))

    # -- settings -------------------------------------------------------------------------------------

    async def on_settings(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The member's /imagine defaults with buttons that change them; in a group it works in
        place (the buttons carry the member's id, so nobody else can change them)."""
        message = update.effective_message
        await self.show(message.chat_id, await self.core.settings_screen(who_of(update)), message.message_id)

    # -- redo and forget: both ask first ------------------------------------------------------------

    async def on_redo(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not is_private(update):
            return await self.to_private(update, "redo")
        await self.ask_redo(update.effective_chat.id, who_of(update))

    async def ask_redo(self, chat_id: int, who: MemberRef) -> None:
        question = await self.core.ask_redo(who)
        if question is None:  # nothing to delete: start over at once
            return await self.show_onboarding(chat_id, who, await self.core.redo_onboarding(who))
        no = messages.REDO_NO[TELEGRAM]
        await self.say(chat_id, question, keyboards.yes_no("redo", who.user_id, messages.REDO_YES, no))

    async def on_forget(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if not is_private(update):
            return await self.to_private(update, "forget")
        await self.ask_forget(update.effective_chat.id, who_of(update))

    async def ask_forget(self, chat_id: int, who: MemberRef) -> None:
        stored = await self.core.stored_about(who)
        if stored is None:
            return await self.say(chat_id, messages.NOTHING_STORED)
        markup = keyboards.yes_no("forget", who.user_id, messages.FORGET_YES, messages.FORGET_NO)
        await self.say(chat_id, messages.ask_forget(stored), markup)

    # -- imagine --------------------------------------------------------------------------------

    async def on_imagine(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """`/imagine <prompt> [--ar 16:9 --seed 7 ...]`: the core reads the flags; a bad one is named."""
        message = update.effective_message
        prompt = argument_of(message.text)
        if not prompt.strip():
            return await message.reply_text(messages.IMAGINE_USAGE)
        who = who_of(update)
        chat_ref = {"chat_id": message.chat_id, "reply_to": message.message_id, "user_id": who.user_id}
        try:
            submitted = await self.core.submit_imagine(who, prompt, chat_ref, place=await self.place_of(update))
        except InvalidArgument as e:  # a bad flag, a limit or a rule (`Refused`): nothing was queued
            if e.argument != "profile":
                return await message.reply_text(messages.fit(messages.friendly(e), TEXT_LIMIT))
            # [bot] require_profile: say how to get one
            private = is_private(update)
            link = None if private else keyboards.private_link(self.bot.username, "onboard")
            return await message.reply_text(messages.needs_profile(e, private), reply_markup=link)
        await self.follow_new(submitted, who, message.chat_id, message.message_id)

    async def follow_new(self, submitted: Submitted, who: MemberRef, chat_id: int, reply_to: int | None) -> None:
        """Show a just-queued job's status (with ✖ Cancel, replying to `reply_to`) and follow it to
        its image in the background: after /imagine and after 🔄 🎲 ⚖ ✨ under an image.

        A member whose /settings send images privately gets the status and the image in their
        private chat, and the chat hears that it is coming there; when Telegram refuses (they never
        opened that chat), it all stays here, after a one-line note."""
        cancel = keyboards.cancel(who.user_id, submitted.job_id)
        status = None
        if submitted.private and chat_id != int(who.user_id):
            try:
                status = await self.say(int(who.user_id), submitted.text, cancel)
            except (Forbidden, BadRequest) as e:
                if isinstance(e, BadRequest) and "chat not found" not in e.message.lower():
                    raise
                await self.say(chat_id, messages.PRIVATE_REFUSED, reply_to=reply_to)
            else:
                await self.say(chat_id, messages.IMAGE_COMING_PRIVATELY, reply_to=reply_to)
                chat_id, reply_to = int(who.user_id), None
        if status is None:
            status = await self.say(chat_id, submitted.text, cancel, reply_to)
        # Where the status lives, so a restarted bot edits it and delivers to the same chat.
        await self.core.set_chat_ref(submitted.job_id, {"chat_id": chat_id, "reply_to": reply_to,
                                                        "message_id": status.message_id})
        out = TelegramJobOutput(self.bot, chat_id, status.message_id, reply_to, cancel, user_id=who.user_id)
        work = self.core.deliver(submitted.job_id, out, submitted)
        self.tasks.spawn(work, f"viper-deliver-{submitted.job_id}")

    def output_for(self, job: JobRecord) -> TelegramJobOutput | None:
        """The port of a job recorded before a restart (None when it names no chat)."""
        ref = job.chat_ref
        if ref.get("chat_id") is None:
            return None

        async def remember(message_id: int) -> None:
            await self.core.set_chat_ref(job.id, {"message_id": message_id})

        status_id = int(ref["message_id"]) if ref.get("message_id") is not None else None
        cancel = keyboards.cancel(ref.get("user_id"), job.id)
        return TelegramJobOutput(self.bot, int(ref["chat_id"]), status_id, ref.get("reply_to"), cancel, remember,
                                 ref.get("user_id"))

    async def resume_deliveries(self) -> int:
        return await self.core.resume(TELEGRAM, self.output_for, self.tasks.spawn)

    # -- busy groups: /usage and /admin -------------------------------------------------------------

    async def on_usage(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Today's images, what is left, the cooldown and the queued images: counts only, so in a
        group it answers in place."""
        message = update.effective_message
        text = await self.core.usage(who_of(update), await self.place_of(update))
        await message.reply_text(messages.fit(text, TEXT_LIMIT))

    async def on_admin(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """`/admin channels|limits|block|pause|resume|stats ...`: the core's admin controls for this
        group, with the member's rights asked of Telegram afresh. The core refuses non-admins and
        private chats; words that fit no form get the usage of what was meant."""
        message = update.effective_message
        call = admin_call(self.core, argument_of(message.text).split())
        if isinstance(call, str):
            return await message.reply_text(call)
        try:
            text = await call(await self.place_of(update, fresh=True))
        except ViperError as e:
            text = messages.friendly(e)
        await message.reply_text(messages.fit(text, TEXT_LIMIT))

    # -- everything else --------------------------------------------------------------------------

    async def on_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.effective_message.reply_text(messages.help_text(TELEGRAM, self.core.min_comments))

    async def on_not_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.effective_message.reply_text(messages.NOT_TEXT)

    async def on_unknown(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.effective_message.reply_text(messages.UNKNOWN_COMMAND)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log every error; tell the member a friendly sentence when there is a chat to answer."""
        err = context.error
        if isinstance(err, ViperError):
            log.info("%s: %s", type(err).__name__, err.message)
        else:
            log.error("error while handling an update", exc_info=err)
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            return
        try:
            await context.bot.send_message(chat.id, messages.friendly(err))
        except TelegramError as e:
            log.warning("could not tell chat %s about the error: %s", chat.id, e)
