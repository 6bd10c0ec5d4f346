"""The member's side of the Discord emulator: the interactions a Discord client would send.

Each builder returns the INTERACTION_CREATE payload; `DiscordEmulator.send_interaction` pushes it.
The builders refuse what the real client could not send (an absent or disabled button, a value
the select menu does not offer, a modal answer past its limits).
"""

from __future__ import annotations

import secrets

from tests.emulators.discord_model import _iso

CHANNEL = 7  # the option type of a channel
ATTACHMENT = 11  # the option type of a file


class MemberClient:
    """Slash commands, button clicks, select choices and modal submissions; mixed into
    `DiscordEmulator`, whose `messages`, `commands`, `channel()` and ids it uses."""

    def _interaction(self, type_: int, user: dict, data: dict, message: dict | None = None,
                     channel_id: str | None = None) -> dict:
        """The payload of an interaction `user` makes in a channel of the guild ("art" unless told):
        the channel as the guild describes it (its `nsfw` flag included) and the member with their
        roles and their resolved permissions (Manage Server for a moderator)."""
        interaction_id = self.snowflake()
        self.users[user["id"]] = user  # a member who used the bot can get its direct messages
        channel = self.channel(channel_id)
        roles = [self.moderator_role_id] if user["id"] in self.moderators else []
        payload = {
            "id": interaction_id, "application_id": self.application_id, "type": type_, "data": data,
            "guild_id": self.guild_id, "guild": {"id": self.guild_id, "locale": "en-US", "features": []},
            "channel_id": channel["id"], "channel": channel,
            "member": {"user": user, "roles": roles, "joined_at": _iso(), "deaf": False, "mute": False, "flags": 0,
                       "nick": None, "pending": False, "permissions": str(self.permissions_of(user))},
            "token": f"itok.{interaction_id}.{secrets.token_urlsafe(24)}", "version": 1,
            "app_permissions": "2248473465835073", "locale": "en-US", "guild_locale": "en-US",
            "entitlements": [], "authorizing_integration_owners": {"0": self.guild_id}, "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if message is not None:
            payload["message"] = message
        return payload

    def slash_command(self, name: str, user: dict, *, enforce_limits: bool = True, channel_id: str | None = None,
                      **options) -> dict:
        """An application command interaction, as a member typing `/name option:value` sends it, in
        the channel `channel_id` ("art" unless told). A subcommand of a group is named after it:
        `slash_command("admin channels", user, action="add")`.

        Each value goes with the option type the command was synced with (a string, an integer 4,
        a number 10, a boolean 5), converted as the Discord client does; a channel option (7) takes
        a channel id of the guild, resolved in `data.resolved.channels`; an attachment option (11)
        takes what `attachment()` returned, sent as its id with the file in `data.resolved`, as
        Discord sends a file the member picked. With `enforce_limits`,
        refuses what the client would not send (a command the member cannot see: its
        default_member_permissions are not theirs and the server did not open it to everyone;
        an unknown or missing required option, a value outside the option's choices,
        min_value/max_value or min_length/max_length, a channel of a type the option does not take);
        without it, sends the value as a modified client could.
        """
        top, *path = name.split()
        synced = [c for cmds in self.commands.values() for c in cmds if c["name"] == top]
        if not synced:
            raise AssertionError(f"/{top} was never synced, so a member could not use it")
        command = synced[0]
        needed = command.get("default_member_permissions")
        if enforce_limits and needed is not None and top not in self.opened:
            if int(needed) & ~self.permissions_of(user):
                raise AssertionError(f"the Discord client does not offer /{top} to {user['username']}: it needs "
                                     f"permissions {needed} (default_member_permissions)")
        declared_in = command
        for sub in path:
            found = [o for o in declared_in.get("options") or [] if o["name"] == sub and o.get("type") in (1, 2)]
            if not found:
                raise AssertionError(f"/{top} has no subcommand {sub!r}")
            declared_in = found[0]
        if any(o.get("type") in (1, 2) for o in declared_in.get("options") or []):
            raise AssertionError(f"/{name} is a group: name one of its subcommands")
        declared = {o["name"]: o for o in declared_in.get("options") or []}
        sent, resolved = [], {}
        for key, value in options.items():
            option = declared.get(key)
            if option is None:
                raise AssertionError(f"/{name} has no option {key!r}; it has {list(declared)}")
            kind = option.get("type", 3)
            if kind == ATTACHMENT:
                if not isinstance(value, dict) or value.get("id") not in self.attachments:
                    raise AssertionError(f"/{name} {key} takes a file: pass what emulator.attachment() returned")
                resolved.setdefault("attachments", {})[value["id"]] = value
                sent.append({"name": key, "type": kind, "value": value["id"]})
                continue
            if kind == CHANNEL:
                channel = self.channels.get(str(value))
                if channel is None:
                    raise AssertionError(f"/{name} {key} takes a channel of the guild, not {value!r}")
                if enforce_limits and option.get("channel_types") and channel["type"] not in option["channel_types"]:
                    raise AssertionError(f"the Discord client offers /{name} {key} only channels of types "
                                         f"{option['channel_types']}")
                resolved.setdefault("channels", {})[channel["id"]] = {
                    "id": channel["id"], "name": channel["name"], "type": channel["type"], "nsfw": channel["nsfw"],
                    "parent_id": channel["parent_id"], "permissions": str(self.permissions_of(user))}
                sent.append({"name": key, "type": kind, "value": channel["id"]})
                continue
            value = {4: int, 10: float, 5: bool}.get(kind, str)(value)
            if enforce_limits:
                self._check_option(name, option, value)
            sent.append({"name": key, "type": kind, "value": value})
        if enforce_limits:
            missing = [o["name"] for o in declared.values() if o.get("required") and o["name"] not in options]
            if missing:
                raise AssertionError(f"the Discord client requires /{name} {missing}")
        for sub in reversed(path):  # a subcommand's options go inside it
            sent = [{"name": sub, "type": 1 if sub == path[-1] else 2, "options": sent}]
        data = {"id": command["id"], "name": top, "type": 1, "options": sent}
        if resolved:
            data["resolved"] = resolved
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        return self._interaction(2, user, data, channel_id=channel_id)

    def attachment(self, filename: str, data: bytes, content_type: str = "application/json") -> dict:
        """A file a member picks for an attachment option: uploaded to the emulated CDN (its bytes are
        served at `url`, and each download is recorded in `downloads`), as Discord's client uploads it
        before it sends the command. Returns the attachment object Discord resolves the option to."""
        attachment_id = self.snowflake()
        self.attachments[attachment_id] = bytes(data)
        url = f"http://127.0.0.1:{self.port}/attachments/{attachment_id}/{filename}"
        return {"id": attachment_id, "filename": filename, "size": len(data), "url": url, "proxy_url": url,
                "content_type": content_type, "ephemeral": True}

    @staticmethod
    def _check_option(name: str, option: dict, value) -> None:
        """Refuse a value the Discord client would not let a member send."""
        label = f"/{name} {option['name']}"
        choices = [c["value"] for c in option.get("choices") or []]
        if choices and value not in choices:
            raise AssertionError(f"the Discord client offers {label} only {choices}, not {value!r}")
        if option.get("min_value") is not None and value < option["min_value"]:
            raise AssertionError(f"the Discord client stops {label} below {option['min_value']}")
        if option.get("max_value") is not None and value > option["max_value"]:
            raise AssertionError(f"the Discord client stops {label} above {option['max_value']}")
        if isinstance(value, str) and option.get("max_length") is not None and len(value) > option["max_length"]:
            raise AssertionError(f"the Discord client stops {label} at {option['max_length']} characters")
        if isinstance(value, str) and len(value) < (option.get("min_length") or 0):
            raise AssertionError(f"the Discord client requires {label} of {option['min_length']} characters")

    def _channel_of(self, message: dict) -> str | None:
        """The guild channel a message sits in (a component on it is pressed there); None: the
        default one (a direct message has no guild channel in this emulator's interactions)."""
        return message.get("channel_id") if message.get("channel_id") in self.channels else None

    @staticmethod
    def buttons(message: dict) -> dict[str, dict]:
        """custom_id -> button component of a message."""
        found = {}

        def walk(components: list[dict]) -> None:
            for c in components:
                if c.get("type") == 2 and "custom_id" in c:
                    found[c["custom_id"]] = c
                walk(c.get("components") or [])

        walk(message.get("components") or [])
        return found

    def button_click(self, message: dict | str, custom_id: str, user: dict) -> dict:
        """A button press on a message the bot sent (in the message's channel); refuses buttons that
        are absent or disabled."""
        message = self.messages[message] if isinstance(message, str) else message
        button = self.buttons(message).get(custom_id)
        if button is None:
            raise AssertionError(f"no button {custom_id!r} on message {message['id']}: {list(self.buttons(message))}")
        if button.get("disabled"):
            raise AssertionError(f"button {custom_id!r} is disabled")
        return self._interaction(3, user, {"custom_id": custom_id, "component_type": 2}, dict(message),
                                 self._channel_of(message))

    @staticmethod
    def selects(message: dict) -> dict[str, dict]:
        """custom_id -> string select menu component of a message."""
        found = {}

        def walk(components: list[dict]) -> None:
            for c in components:
                if c.get("type") == 3 and "custom_id" in c:
                    found[c["custom_id"]] = c
                walk(c.get("components") or [])

        walk(message.get("components") or [])
        return found

    def select_choice(self, message: dict | str, custom_id: str, values: list[str], user: dict) -> dict:
        """A member choosing `values` in a select menu; refuses what the Discord client would not send."""
        message = self.messages[message] if isinstance(message, str) else message
        menu = self.selects(message).get(custom_id)
        if menu is None:
            raise AssertionError(f"no select menu {custom_id!r} on message {message['id']}: {list(self.selects(message))}")
        if menu.get("disabled"):
            raise AssertionError(f"select menu {custom_id!r} is disabled")
        offered = [o["value"] for o in menu.get("options") or []]
        if any(v not in offered for v in values):
            raise AssertionError(f"the select menu {custom_id!r} offers {offered}, not {values}")
        if not menu.get("min_values", 1) <= len(values) <= menu.get("max_values", 1):
            raise AssertionError(f"the select menu {custom_id!r} takes {menu.get('min_values', 1)} to {menu.get('max_values', 1)} values")
        data = {"custom_id": custom_id, "component_type": 3, "values": list(values)}
        return self._interaction(3, user, data, dict(message), self._channel_of(message))

    def modal_submit(self, modal: dict, values: dict[str, str], user: dict, message: dict | str | None = None,
                     *, enforce_limits: bool = True, channel_id: str | None = None) -> dict:
        """The submission of a modal the bot opened (`modal` is the data of its type-9 response).

        With `enforce_limits`, refuses what the Discord client would (missing required field,
        text longer than max_length); without it, sends the text as a modified client could.
        """

        def answer(component: dict) -> dict:
            value = values.get(component["custom_id"], "")
            if enforce_limits:
                if component.get("required", True) and not value:
                    raise AssertionError(f"the Discord client requires {component['custom_id']!r}")
                if component.get("max_length") and len(value) > component["max_length"]:
                    raise AssertionError(f"the Discord client stops {component['custom_id']!r} at {component['max_length']}")
            return {"type": 4, "custom_id": component["custom_id"], "value": value}

        def mirror(components: list[dict]) -> list[dict]:
            out = []
            for c in components:
                if c.get("type") == 1:
                    out.append({"type": 1, "components": [answer(x) for x in c["components"] if x.get("type") == 4]})
                elif c.get("type") == 18 and c.get("component", {}).get("type") == 4:
                    out.append({"type": 18, "component": answer(c["component"])})
            return out

        message = self.messages[message] if isinstance(message, str) else message
        data = {"custom_id": modal["custom_id"], "components": mirror(modal["components"])}
        return self._interaction(5, user, data, dict(message) if message else None,
                                 self._channel_of(message) if message else channel_id)
