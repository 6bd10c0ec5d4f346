"""Inline buttons: one `CallbackQueryHandler(pattern=...)` per action, each answered exactly once.

Patterns accept ASCII digits only, so hostile callback data (`viper:pick:²`) matches no action and
gets the "no longer does anything" answer instead of an error. Buttons that act on a member's data
carry that member's id, and the core refuses anybody else's tap.

Buttons the core makes (`CORE_ROUTES`: the actions under a delivered image, ↩ Undo, /settings, the
choices of `/link CODE` and the confirmation of an import) go to one handler, `press`, which hands
the route and its arguments to `ViperBot.press` and draws the `Reply`. They carry only ids and codes
(a job, a profile snapshot, a link code, an owner): what they act on lives in SQLite, so they keep
working after a restart. Merging two linked profiles reads every comment again, so that press is
answered at once and finished in the background.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from telegram import CallbackQuery, Message, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application, CallbackQueryHandler, ContextTypes

from bot import messages
from bot.adapters.telegram import keyboards
from bot.adapters.telegram.handlers import NumberKeyboard, TelegramHandlers, who_of
from bot.commands import ONBOARD_COMMAND, TELEGRAM
from bot.core import MemberRef
from bot.core.types import Reply
from viper.contracts.errors import ViperError

log = logging.getLogger("viper.telegram")

ANSWER_LIMIT = 200  # Telegram's limit for the text of a callback query's answer
OWNER = r"(?P<owner>[0-9]+)"
JOB = r"[A-Za-z0-9_.-]+"
# The core's buttons (`bot.core.types.Button.data` is `viper:<route>:<arg>:...`), ASCII only.
CORE_ROUTES = (
    rf"act:(?:reroll|vary|compare|info|up|down|why|mine):{JOB}",
    r"undo:[0-9]{1,12}",
    rf"set:(?:ar|strength|steps|delivery):[0-9a-z.]{{1,8}}:{OWNER}",
    rf"link:[0-9A-Z]{{8}}:(?:home|other|merge|no):{OWNER}",
    rf"imp:(?:yes|no):{OWNER}",
)


class Answer:
    """Answers one button press, once: early from a handler about to do slow work, or at its end.
    An alert asked for after the press was answered becomes a message, so it is never lost."""

    def __init__(self, query: CallbackQuery):
        self.query, self.done = query, False

    async def __call__(self, text: str | None = None, *, alert: bool = False) -> None:
        try:
            if not self.done:
                self.done = True
                await self.query.answer(messages.fit(text, ANSWER_LIMIT) if text else None, show_alert=alert)
            elif alert and text and self.query.message is not None:
                await self.query.get_bot().send_message(self.query.message.chat.id, text)
        except TelegramError as e:
            log.info("could not answer a button press: %s", e)


Action = Callable[[CallbackQuery, MemberRef, dict, Answer], Awaitable[str | None]]


def chat_of(query: CallbackQuery) -> int:
    return query.message.chat.id if query.message is not None else query.from_user.id


class TelegramButtons:
    def __init__(self, handlers: TelegramHandlers):
        self.h, self.core = handlers, handlers.core

    def register(self, application: Application) -> None:
        routes: list[tuple[str, Action]] = [
            (r"pick:(?P<number>[0-9]{1,6})", self.pick),
            (rf"ok:{OWNER}", self.accept),
            (rf"rm:{OWNER}:(?P<side>[ld])(?P<index>[0-9]{{1,4}}):(?P<tag>[0-9a-f]{{8}})", self.remove),
            (rf"redo:{OWNER}", self.redo),
            (rf"redo-(?P<answer>yes|no):{OWNER}", self.answer_redo),
            (rf"forget-(?P<answer>yes|no):{OWNER}", self.answer_forget),
            (rf"ic:{OWNER}:(?P<job>[A-Za-z0-9_.-]+)", self.cancel_image),
        ]
        routes += [(route, self.press) for route in CORE_ROUTES]
        for pattern, action in routes:
            application.add_handler(CallbackQueryHandler(self._guard(action), pattern=rf"^{keyboards.PREFIX}:{pattern}\Z"))
        stale = self._guard(lambda *_: self._stale())
        application.add_handler(CallbackQueryHandler(stale, pattern=rf"^{keyboards.PREFIX}:"))

    @staticmethod
    async def _stale() -> str:
        return messages.STALE_BUTTON

    def _guard(self, action: Action):
        async def callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            query = update.callback_query
            match = context.matches[0].groupdict() if context.matches else {}
            answer = Answer(query)
            note, alert = None, False
            try:
                who = who_of(update)
                if "owner" in match:
                    self.core.check_owner(who, match["owner"])
                note = await action(query, who, match, answer)
            except ViperError as e:
                note, alert = messages.friendly(e), True
            finally:  # answered even when the action broke, so the button stops spinning
                await answer(note, alert=alert)

        return callback

    async def edit_query(self, query: CallbackQuery, text: str, markup=None) -> None:
        """Replace the text (and buttons) of the message whose button was pressed; a message
        Telegram no longer lets us edit (too old, deleted) gets a new message instead."""
        text = messages.fit(text, keyboards.TEXT_LIMIT)
        message = query.message
        if isinstance(message, Message) and message.text is not None:  # a photo's caption is no text to edit
            if message.text == text and message.reply_markup == markup:
                return
            try:
                await query.edit_message_text(text, reply_markup=markup)
                return
            except BadRequest as e:
                if "not modified" in e.message.lower():
                    return
                log.info("could not edit the message of a button: %s", e)
        await self.h.say(chat_of(query), text, markup)

    async def pick(self, query: CallbackQuery, who: MemberRef, match: dict, answer: Answer) -> None:
        """A number under the album: the member's next message is their comment on that image."""
        number = int(match["number"])
        image = await self.core.choose_image(who, number)  # a paused or finished onboarding carries on
        await answer(messages.picked(number))
        chat_id = chat_of(query)
        earlier = (await self.core.comments(who)).get(image.id)
        prompt = await self.h.say(chat_id, messages.type_comment_on(number, earlier))
        # A reply to this prompt is a comment on the image too.
        await self.core.store.remember_posted_image(TELEGRAM, chat_id, prompt.message_id, image.id)
        message = query.message
        if isinstance(message, Message) and message.reply_markup is not None:
            page = (number - 1) // self.h.settings.bot.gallery_page_size
            shown = message.reply_markup.to_dict()
            self.h._numbers[who.user_id] = NumberKeyboard(chat_id, message.message_id, page, shown)
            await self.h.tick_numbers(who)

    async def accept(self, query: CallbackQuery, who: MemberRef, match: dict, answer: Answer) -> str:
        profile = await self.core.profile(who)
        text = messages.format_profile(profile, ONBOARD_COMMAND[TELEGRAM])
        if profile is None:
            await self.edit_query(query, text)
            return messages.NO_PROFILE_ANY_MORE
        line = messages.accepted(TELEGRAM)
        await self.edit_query(query, f"{messages.fit(text, keyboards.TEXT_LIMIT - len(line) - 2)}\n\n{line}")
        return "Saved"

    async def remove(self, query: CallbackQuery, who: MemberRef, match: dict, answer: Answer) -> str:
        """✖ under a feature: drop it, and draw the lists again (indices shift after a removal)."""
        profile = await self.core.profile(who)
        features = (profile.liked if match["side"] == "l" else profile.disliked) if profile else []
        index = int(match["index"])
        feature = features[index] if index < len(features) else None
        if feature is None or keyboards.feature_tag(feature) != match["tag"]:
            await self.edit_query(query, *keyboards.profile_view(profile, who.user_id))
            return messages.PROFILE_CHANGED
        profile = await self.core.remove_feature(who, feature)
        await self.edit_query(query, *keyboards.profile_view(profile, who.user_id))
        return messages.removed(feature)

    async def redo(self, query: CallbackQuery, who: MemberRef, match: dict, answer: Answer) -> None:
        await self.h.ask_redo(chat_of(query), who)  # refused while the profile is being built

    async def answer_redo(self, query: CallbackQuery, who: MemberRef, match: dict, answer: Answer) -> str | None:
        if match["answer"] == "no":
            await self.edit_query(query, messages.redo_declined(await self.core.comment_count(who), TELEGRAM))
            return None
        status = await self.core.redo_onboarding(who)
        await answer("Starting over")
        await self.edit_query(query, messages.STARTING_OVER)
        await self.h.show_onboarding(chat_of(query), who, status)
        return None

    async def answer_forget(self, query: CallbackQuery, who: MemberRef, match: dict, answer: Answer) -> str | None:
        if match["answer"] == "no":
            await self.edit_query(query, messages.FORGET_KEPT)
            return None
        stored = await self.core.stored_about(who)
        if stored is None or not await self.core.forget(who):
            await self.edit_query(query, messages.NOTHING_LEFT)
            return "Nothing to delete"
        self.h._numbers.pop(who.user_id, None)
        await self.edit_query(query, messages.forgotten(stored, TELEGRAM))
        return "Deleted"

    async def cancel_image(self, query: CallbackQuery, who: MemberRef, match: dict, answer: Answer) -> str:
        """✖ Cancel under a status message: the job is dropped or stopped; its follower edits the message."""
        return messages.cancel_answer(await self.core.cancel_image(who, match["job"]))

    async def press(self, query: CallbackQuery, who: MemberRef, match: dict, answer: Answer) -> None:
        """Any core button: `ViperBot.press` decides (refusing another member's press with NotYours,
        which `_guard` answers as an alert), and its `Reply` is drawn here."""
        _, route, *args = query.data.split(":")
        message = query.message if isinstance(query.message, Message) else None
        chat_id = chat_of(query)
        pressed = message.message_id if message is not None else None
        chat_ref = {"chat_id": chat_id, "reply_to": pressed, "user_id": who.user_id}
        if route == "link" and args[1:2] == ["merge"]:
            # Merging reads all the comments again (an extraction on a worker): it must not hold up
            # everybody else's updates, so it runs in the background and the press is answered now.
            await answer()

            async def merge() -> None:
                try:
                    reply = await self.core.press(who, route, args, chat_ref)
                except ViperError as e:
                    await self.h.say(chat_id, messages.friendly(e), reply_to=pressed)
                    return
                await self.draw(query, reply, who, chat_id, pressed)

            self.h.tasks.spawn(merge(), f"viper-link-{who.user_id}")
            return
        # Images made by a press (🔄 🎲 ⚖ ✨) count against the limits of the group they are made in.
        place = None
        if route == "act" and query.message is not None:
            place = await self.h.places.place(self.h.bot, query.message.chat, query.from_user, message)
        reply: Reply = await self.core.press(who, route, args, chat_ref, place=place)
        await answer(reply.toast, alert=reply.alert)  # before any slow work: the button stops spinning
        await self.draw(query, reply, who, chat_id, pressed)

    async def draw(self, query: CallbackQuery, reply: Reply, who: MemberRef, chat_id: int, pressed: int | None) -> None:
        """What a core `Reply` to a press asks for: a job to follow, a comment to ask for, a message."""
        if reply.submitted is not None:
            await self.h.follow_new(reply.submitted, who, chat_id, pressed)
        if reply.ask_comment is not None:
            asked = await self.h.say(chat_id, messages.WHY_PROMPT, reply_to=pressed)
            # A reply to this prompt is a comment on the image too, as a reply to the image is.
            await self.core.store.remember_result_message(TELEGRAM, chat_id, asked.message_id, reply.ask_comment)
        if reply.text:
            if reply.edit:
                await self.edit_query(query, reply.text, keyboards.rows(reply.rows))
            else:
                await self.h.show(chat_id, reply, reply_to=pressed)
