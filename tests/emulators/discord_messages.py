"""The Discord emulator's messages: built in the shape Discord returns, checked against its limits."""

from __future__ import annotations

from tests.emulators.discord_model import EPHEMERAL, LOADING, SPOILER, DiscordError, SentInteraction, Upload, _iso


class MessageStore:
    """Creating, validating and editing stored messages; mixed into `DiscordEmulator`, whose
    `messages`, `attachments`, `snowflake()` and ids it uses."""

    def _message(self, data: dict, uploads: list[Upload], *, flags: int = 0, author: dict | None = None,
                 webhook: bool = False, interaction: SentInteraction | None = None, channel_id: str | None = None,
                 guild_id: str | None = "") -> dict:
        message_id = self.snowflake()
        if channel_id is None and interaction is not None:  # an answer lands in the interaction's channel
            channel_id = interaction.payload.get("channel_id")
        message = {
            "id": message_id, "type": 20 if interaction is not None else 0, "channel_id": channel_id or self.channel_id,
            "guild_id": self.guild_id if guild_id == "" else guild_id, "author": author or self.bot_user, "content": "", "tts": False,
            "mention_everyone": False, "mentions": [], "mention_roles": [], "pinned": False, "embeds": [],
            "attachments": [], "components": [], "timestamp": _iso(), "edited_timestamp": None, "flags": flags,
        }
        if webhook:
            message["webhook_id"] = self.application_id
            message["application_id"] = self.application_id
        if interaction is not None:
            p = interaction.payload
            message["interaction_metadata"] = {
                "id": p["id"], "type": p["type"], "user": p["member"]["user"],
                "authorizing_integration_owners": {"0": self.guild_id},
            }
        self._apply(message, data, uploads, edit=False)
        self.messages[message_id] = message
        return message

    @staticmethod
    def _validate(data: dict) -> None:
        """Refuse what Discord refuses with 50035 Invalid Form Body (the limits a bot can trip over)."""
        problems = []
        if len(data.get("content") or "") > 2000:
            problems.append("content: must be 2000 or fewer in length")
        if "title" in data and len(data["title"] or "") > 45:
            problems.append("title: must be 45 or fewer in length")

        seen: set[str] = set()

        def walk(components: list[dict]) -> None:
            for c in components:
                custom_id = c.get("custom_id")
                if custom_id is not None and not 1 <= len(custom_id) <= 100:
                    problems.append(f"custom_id {custom_id!r}: must be 1 to 100 characters")
                if custom_id is not None:
                    if custom_id in seen:
                        problems.append(f"custom_id {custom_id!r}: component custom id cannot be duplicated")
                    seen.add(custom_id)
                if c.get("type") == 2 and len(c.get("label") or "") > 80:
                    problems.append("label: must be 80 or fewer in length")
                if c.get("type") in (4, 18) and len(c.get("label") or "") > 45:  # a modal's text input, or its label
                    problems.append(f"label {c.get('label')!r}: must be 45 or fewer in length")
                if c.get("type") == 18 and len(c.get("description") or "") > 100:
                    problems.append("description: must be 100 or fewer in length")
                if c.get("type") == 4 and len(c.get("placeholder") or "") > 100:
                    problems.append("placeholder: must be 100 or fewer in length")
                if c.get("type") == 1:
                    inner = c.get("components") or []
                    selects = [x for x in inner if x.get("type") in (3, 5, 6, 7, 8)]
                    if not inner or len(inner) > 5 or (selects and len(inner) > 1):
                        problems.append("action row: holds 1 to 5 buttons or a single select menu")
                if c.get("type") == 3:
                    options = c.get("options") or []
                    if not 1 <= len(options) <= 25:
                        problems.append("options: a select menu needs 1 to 25 options")
                    if len(c.get("placeholder") or "") > 150:
                        problems.append("placeholder: must be 150 or fewer in length")
                    values = [o.get("value") or "" for o in options]
                    if len(set(values)) != len(values):
                        problems.append("options: values must be unique")
                    for o in options:
                        if not 1 <= len(o.get("label") or "") <= 100 or not 1 <= len(o.get("value") or "") <= 100:
                            problems.append("options: label and value must be 1 to 100 characters")
                        if len(o.get("description") or "") > 100:
                            problems.append("options: description must be 100 or fewer in length")
                walk(c.get("components") or [])
                if isinstance(c.get("component"), dict):
                    walk([c["component"]])

        top = data.get("components") or []
        if len([c for c in top if c.get("type") == 1]) > 5:
            problems.append("components: at most 5 action rows")
        walk(top)
        if problems:
            raise DiscordError(400, 50035, "Invalid Form Body: " + "; ".join(problems))

    def _apply(self, message: dict, data: dict, uploads: list[Upload], *, edit: bool = True) -> None:
        """Apply a create or edit payload to a stored message (content, components, attachments)."""
        self._validate(data)
        for key in ("content", "embeds", "components"):
            if key in data and data[key] is not None:
                message[key] = data[key]
        if "flags" in data and data["flags"] is not None:
            # Only the ephemeral bit is chosen at creation; edits may only toggle suppression bits.
            message["flags"] = (message["flags"] & (EPHEMERAL | LOADING)) | (int(data["flags"]) & ~(EPHEMERAL | LOADING))
        if "attachments" in data or uploads:
            by_index = {u.field: u for u in uploads}
            kept = {a["id"]: a for a in message["attachments"]}
            attachments = []
            for entry in data.get("attachments") or [{"id": i} for i in range(len(uploads))]:
                upload = by_index.get(f"files[{entry['id']}]")
                if upload is None:
                    if str(entry["id"]) in kept:
                        attachments.append(kept[str(entry["id"])])
                    continue
                attachment_id = self.snowflake()
                self.attachments[attachment_id] = upload.data
                url = f"http://127.0.0.1:{self.port}/attachments/{attachment_id}/{upload.filename}"
                attachments.append({
                    "id": attachment_id, "filename": upload.filename, "size": len(upload.data), "url": url,
                    "proxy_url": url, "content_type": upload.content_type,
                    # Discord hides a file named SPOILER_... behind a spoiler, and flags it IS_SPOILER.
                    "flags": SPOILER if upload.filename.startswith("SPOILER_") else 0,
                    **({"description": entry["description"]} if entry.get("description") else {}),
                })
            message["attachments"] = attachments
        if edit:
            message["edited_timestamp"] = _iso()
