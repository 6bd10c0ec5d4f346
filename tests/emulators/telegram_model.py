"""What the Telegram emulator reads, records and refuses with: limits, recorded calls, stored files."""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass, field
from typing import Any

JSON_FIELDS = {
    "media", "reply_markup", "commands", "reply_parameters", "entities", "caption_entities",
    "allowed_updates", "scope", "link_preview_options",
}
INT_FIELDS = {
    "chat_id", "message_id", "offset", "limit", "timeout", "reply_to_message_id", "message_thread_id",
    "from_chat_id", "user_id", "cache_time",
}
BOOL_FIELDS = {
    "disable_notification", "protect_content", "allow_sending_without_reply", "drop_pending_updates",
    "has_spoiler", "show_alert", "show_caption_above_media", "disable_content_type_detection",
}
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
UPLOAD_LIMIT = 50 * 1024**2  # bytes of a document a bot may send
DOWNLOAD_LIMIT = 20 * 1024**2  # bytes of a file a bot may download (getFile refuses bigger ones)
CALLBACK_DATA_LIMIT = 64  # bytes
CALLBACK_ANSWER_LIMIT = 200  # characters of an answerCallbackQuery text
BUTTONS_LIMIT = 100  # buttons in one inline keyboard
BAD_BUTTON = "Bad Request: can't parse inline keyboard button"
# BotCommandScope types (setMyCommands, getMyCommands) and the fields each one needs.
COMMAND_SCOPES = {
    "default": (), "all_private_chats": (), "all_group_chats": (), "all_chat_administrators": (),
    "chat": ("chat_id",), "chat_administrators": ("chat_id",), "chat_member": ("chat_id", "user_id"),
}
MEMBER_STATUSES = ("creator", "administrator", "member", "restricted", "left", "kicked")
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)


class ApiError(Exception):
    """A refusal, answered as Telegram does: `{"ok": false, "error_code": ..., "description": ...}`."""

    def __init__(self, code: int, description: str, parameters: dict | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


@dataclass
class ApiCall:
    """One request the bot made, as the emulator understood it."""

    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    file_names: dict[str, str] = field(default_factory=dict)  # multipart field -> the filename it was sent with
    file_types: dict[str, str] = field(default_factory=dict)  # multipart field -> its content type
    at: float = field(default_factory=time.monotonic)
    ok: bool = True
    result: Any = None
    error: str | None = None

    @property
    def chat_id(self) -> Any:
        return self.params.get("chat_id")

    @property
    def text(self) -> str:
        """The message text or photo caption (empty when the call has neither)."""
        return str(self.params.get("text") or self.params.get("caption") or "")

    @property
    def buttons(self) -> list[dict]:
        """The inline keyboard the call sent, row after row (empty without one)."""
        markup = self.params.get("reply_markup") or {}
        return [button for row in markup.get("inline_keyboard", []) for button in row]

    def __repr__(self) -> str:  # short enough to read in an assertion message
        shown = {k: v for k, v in self.params.items() if k not in ("media",)}
        extra = f" files={sorted(self.files)}" if self.files else ""
        status = "" if self.ok else f" ERROR {self.error!r}"
        return f"<{self.method} {shown}{extra}{status}>"


@dataclass
class StoredFile:
    """A file Telegram holds: a photo, or a document (`file_name`, `mime_type`) sent by the bot or a member."""

    file_id: str
    file_unique_id: str
    data: bytes
    width: int = 0
    height: int = 0
    file_name: str = ""
    mime_type: str = "image/png"

    @property
    def is_document(self) -> bool:
        return bool(self.file_name)

    @property
    def path(self) -> str:
        """Where getFile says it can be downloaded (`<base_file_url><token>/<path>`)."""
        if self.is_document:
            suffix = self.file_name.rpartition(".")[2] if "." in self.file_name else "bin"
            return f"documents/file_{self.file_unique_id}.{suffix}"
        return f"photos/{self.file_unique_id}.png"

    def document(self) -> dict:
        """The Document object a message carries."""
        return {"file_id": self.file_id, "file_unique_id": self.file_unique_id, "file_name": self.file_name,
                "mime_type": self.mime_type, "file_size": len(self.data)}


def chat_member(user: dict, status: str) -> dict:
    """A ChatMember object of `status`, with the fields Telegram sends for it."""
    if status not in MEMBER_STATUSES:
        raise ValueError(f"no chat member status {status!r}; Telegram has {MEMBER_STATUSES}")
    member: dict[str, Any] = {"status": status, "user": user}
    if status == "creator":
        member["is_anonymous"] = False
    elif status == "administrator":
        member.update(dict.fromkeys((
            "can_be_edited", "is_anonymous", "can_promote_members", "can_post_stories", "can_edit_stories",
            "can_delete_stories"), False))
        member.update(dict.fromkeys((
            "can_manage_chat", "can_delete_messages", "can_manage_video_chats", "can_restrict_members",
            "can_change_info", "can_invite_users", "can_pin_messages", "can_manage_topics"), True))
    elif status == "restricted":
        member.update(dict.fromkeys((
            "is_member", "can_change_info", "can_invite_users", "can_pin_messages", "can_send_polls",
            "can_send_other_messages", "can_add_web_page_previews", "can_manage_topics", "can_send_audios",
            "can_send_documents", "can_send_photos", "can_send_videos", "can_send_video_notes",
            "can_send_voice_notes", "can_edit_tag", "can_react_to_messages"), False))
        member.update(is_member=True, can_send_messages=True, until_date=0)
    elif status == "kicked":
        member["until_date"] = 0
    return member


def _decode(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if name in JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            raise ApiError(400, f"Bad Request: can't parse {name} JSON object") from None
    if name in INT_FIELDS and value.lstrip("-").isdigit():
        return int(value)
    if name in BOOL_FIELDS:
        return value.lower() in ("true", "1")
    return value


def _image_size(data: bytes) -> tuple[int, int]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.verify()
            return im.size
    except (UnidentifiedImageError, OSError, SyntaxError):
        raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED") from None
