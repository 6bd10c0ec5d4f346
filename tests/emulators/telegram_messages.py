"""The Telegram emulator's chats and messages: building the bot's messages, checking what it sends."""

from __future__ import annotations

import time
from typing import Any

from tests.emulators.telegram_model import (
    BAD_BUTTON,
    BUTTONS_LIMIT,
    CALLBACK_DATA_LIMIT,
    CAPTION_LIMIT,
    UPLOAD_LIMIT,
    ApiCall,
    ApiError,
    StoredFile,
    _image_size,
)


class MessageStore:
    """Chats, message ids, keyboards, replies, photos and captions; mixed into `TelegramAPIEmulator`,
    whose `messages`, `files`, `bot_user` and counters it uses."""

    def _chat(self, chat_id: int, sender: dict | None = None, chat_type: str | None = None) -> dict:
        if chat_id not in self._chats:
            kind = chat_type or ("private" if chat_id > 0 else "supergroup")
            if kind == "private":
                sender = sender or {}
                chat = {"id": chat_id, "type": "private", "first_name": sender.get("first_name", f"Member{chat_id}")}
                if sender.get("username"):
                    chat["username"] = sender["username"]
            else:
                chat = {"id": chat_id, "type": kind, "title": f"Chat {chat_id}"}
            self._chats[chat_id] = chat
        return self._chats[chat_id]

    def _new_message_id(self, chat_id: int) -> int:
        self._next_message_id[chat_id] = self._next_message_id.get(chat_id, 0) + 1
        return self._next_message_id[chat_id]

    def _known_chat(self, call: ApiCall) -> int:
        chat_id = call.params.get("chat_id")
        if isinstance(chat_id, int) and chat_id not in self._chats and chat_id > 0:
            # A user's id is their private chat with the bot, which exists once they started it.
            if self.refuse_unopened_private_chats:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
            self._chat(chat_id, None, "private")
        if not isinstance(chat_id, int) or chat_id not in self._chats:
            raise ApiError(400, "Bad Request: chat not found")
        return chat_id

    @staticmethod
    def _markup(call: ApiCall) -> dict:
        """`{"reply_markup": ...}` for an inline keyboard (the only kind a Message carries), else `{}`."""
        markup = call.params.get("reply_markup")
        if markup is None or "inline_keyboard" not in markup:
            return {}
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise ApiError(400, f"{BAD_BUTTON}: field \"inline_keyboard\" must be an array of arrays")
        buttons = [b for row in rows for b in row]
        if len(buttons) > BUTTONS_LIMIT:
            raise ApiError(400, "Bad Request: BUTTONS_TOO_MUCH")
        for button in buttons:
            if not isinstance(button, dict) or not str(button.get("text", "")).strip():
                raise ApiError(400, f"{BAD_BUTTON}: text buttons are unallowed in the inline keyboard")
            if "callback_data" in button:
                if not 1 <= len(str(button["callback_data"]).encode("utf-8")) <= CALLBACK_DATA_LIMIT:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
            elif "url" in button:
                if not str(button["url"]).startswith(("http://", "https://", "tg://")):
                    raise ApiError(400, "Bad Request: BUTTON_URL_INVALID")
            elif not set(button) & {"switch_inline_query", "switch_inline_query_current_chat", "copy_text", "pay"}:
                raise ApiError(400, f"{BAD_BUTTON}: text buttons are unallowed in the inline keyboard")
        return {"reply_markup": {"inline_keyboard": rows}} if buttons else {}

    def _bot_message(self, call: ApiCall, chat_id: int, **content: Any) -> dict:
        message = {
            "message_id": self._new_message_id(chat_id),
            "date": int(time.time()),
            "chat": self._chats[chat_id],
            "from": self.bot_user,
            **content,
        }
        reply_to = self._reply_target(call, chat_id)
        if reply_to is not None:
            message["reply_to_message"] = {k: v for k, v in reply_to.items() if k != "reply_to_message"}
        # In a forum, a message lands in the topic it names, else in the topic of what it replies to.
        topic = call.params.get("message_thread_id") or (reply_to or {}).get("message_thread_id")
        if topic and self._chats[chat_id].get("is_forum"):
            message.update(message_thread_id=topic, is_topic_message=True)
        self.messages[(chat_id, message["message_id"])] = message
        return message

    def _reply_target(self, call: ApiCall, chat_id: int) -> dict | None:
        params = call.params.get("reply_parameters") or {}
        message_id = params.get("message_id", call.params.get("reply_to_message_id"))
        if message_id is None:
            return None
        found = self.messages.get((chat_id, int(message_id)))
        allow = params.get("allow_sending_without_reply", call.params.get("allow_sending_without_reply", False))
        if found is None and not allow:
            raise ApiError(400, "Bad Request: message to be replied not found")
        return found

    def _store_photo(self, data: bytes) -> list[dict]:
        width, height = _image_size(data)
        n = next(self._file_seq)
        stored = StoredFile(f"photo-{n}-{len(data)}", f"uniq{n}", data, width, height)
        self.files[stored.file_id] = stored
        return self._photo_sizes(stored)

    @staticmethod
    def _photo_sizes(stored: StoredFile) -> list[dict]:
        return [{
            "file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
            "width": stored.width, "height": stored.height, "file_size": len(stored.data),
        }]

    def _photo(self, value: Any, files: dict[str, bytes], field_name: str) -> list[dict]:
        """PhotoSize list for an uploaded file, an `attach://name` or an earlier file_id."""
        if value is None and field_name in files:
            return self._store_photo(files[field_name])
        if isinstance(value, str) and value.startswith("attach://"):
            name = value.removeprefix("attach://")
            if name not in files:
                raise ApiError(400, f"Bad Request: file {name} not found in the request")
            return self._store_photo(files[name])
        if isinstance(value, str) and value in self.files:
            return self._photo_sizes(self.files[value])
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            raise ApiError(400, "Bad Request: failed to get HTTP URL content")  # the emulator reaches nothing
        raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")

    def _store_document(self, data: bytes, file_name: str, mime_type: str) -> StoredFile:
        n = next(self._file_seq)
        stored = StoredFile(f"document-{n}-{len(data)}", f"uniqd{n}", data, file_name=file_name, mime_type=mime_type)
        self.files[stored.file_id] = stored
        return stored

    def _document(self, call: ApiCall) -> dict:
        """The Document of a sendDocument: an uploaded file (named as sent) or an earlier file_id."""
        value = call.params.get("document")
        attached = isinstance(value, str) and value.startswith("attach://")
        field_name = value.removeprefix("attach://") if attached else "document"
        if (value is None or attached) and field_name in call.files:
            data = call.files[field_name]
            if not data:
                raise ApiError(400, "Bad Request: file must be non-empty")
            if len(data) > UPLOAD_LIMIT:
                raise ApiError(413, "Request Entity Too Large")
            name = call.file_names.get(field_name) or "document"
            mime = call.file_types.get(field_name) or "application/octet-stream"
            return self._store_document(data, name, mime).document()
        if isinstance(value, str) and value in self.files and self.files[value].is_document:
            return self.files[value].document()
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            raise ApiError(400, "Bad Request: failed to get HTTP URL content")  # the emulator reaches nothing
        raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")

    @staticmethod
    def _caption(call: ApiCall, params: dict | None = None) -> dict:
        caption = (params if params is not None else call.params).get("caption")
        if caption is None:
            return {}
        if len(caption) > CAPTION_LIMIT:
            raise ApiError(400, "Bad Request: message caption is too long")
        return {"caption": caption}

    def _own_message(self, call: ApiCall) -> dict:
        chat_id = self._known_chat(call)
        message = self.messages.get((chat_id, call.params.get("message_id")))
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if message.get("from", {}).get("id") != self.bot_user["id"]:
            raise ApiError(400, "Bad Request: message can't be edited")
        return message

    @staticmethod
    def _set_markup(message: dict, markup: dict) -> None:
        message.pop("reply_markup", None)
        message.update(markup)
