"""The member's side of the Discord emulator: the interactions a Discord client would send.

Each builder returns the INTERACTION_CREATE payload; `DiscordEmulator.send_interaction` pushes it.
The builders refuse what the real client could not send (an absent or disabled button, a value
the select menu does not offer, a modal answer past its limits).
"""

from __future__ import annotations

import secrets

from tests.emulators.discord_model import _iso

ATTACHMENT = 11  # the option type of a file


class MemberClient:
    """Slash commands, button clicks, select choices and modal submissions; mixed into
    `DiscordEmulator`, whose `messages`, `commands`, `channel()` and ids it uses."""

    def _interaction(self, type_: int, user: dict, data: dict, message: dict | None = None) -> dict:
        interaction_id = self.snowflake()
        self.users[user["id"]] = user  # a member who used the bot can get its direct messages
        payload = {
            "id": interaction_id, "application_id": self.application_id, "type": type_, "data": data,
            "guild_id": self.guild_id, "guild": {"id": self.guild_id, "locale": "en-US", "features": []},
            "channel_id": self.channel_id, "channel": self.channel(),
            "member": {"user": user, "roles": [], "joined_at": _iso(), "deaf": False, "mute": False, "flags": 0,
                       "nick": None, "pending": False, "permissions": "2248473465835073"},
            "token": f"itok.{interaction_id}.{secrets.token_urlsafe(24)}", "version": 1,
            "app_permissions": "2248473465835073", "locale": "en-US", "guild_locale": "en-US",
            "entitlements": [], "authorizing_integration_owners": {"0": self.guild_id}, "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if message is not None:
            payload["message"] = message
        return payload

    def slash_command(self, name: str, user: dict, *, enforce_limits: bool = True, **options) -> dict:
        """An application command interaction, as a member typing `/name option:value` sends it.

        Each value goes with the option type the command was synced with (a string, an integer 4,
        a number 10, a boolean 5), converted as the Discord client does; an attachment option (11)
        takes what `attachment()` returned, sent as its id with the file in `data.resolved`, as
        Discord sends a file the member picked. With `enforce_limits`,
        refuses what the client would not send (an unknown or missing required option, a value
        outside the option's choices, min_value/max_value or min_length/max_length); without it,
        sends the value as a modified client could.
        """
        synced = [c for cmds in self.commands.values() for c in cmds if c["name"] == name]
        if not synced:
            raise AssertionError(f"/{name} was never synced, so a member could not use it")
        command = synced[0]
        declared = {o["name"]: o for o in command.get("options") or []}
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
            value = {4: int, 10: float, 5: bool}.get(kind, str)(value)
            if enforce_limits:
                self._check_option(name, option, value)
            sent.append({"name": key, "type": kind, "value": value})
        if enforce_limits:
            missing = [o["name"] for o in declared.values() if o.get("required") and o["name"] not in options]
            if missing:
                raise AssertionError(f"the Discord client requires /{name} {missing}")
        data = {"id": command["id"], "name": name, "type": 1, "options": sent}
        if resolved:
            data["resolved"] = resolved
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        return self._interaction(2, user, data)

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
        """A button press on a message the bot sent; refuses buttons that are absent or disabled."""
        message = self.messages[message] if isinstance(message, str) else message
        button = self.buttons(message).get(custom_id)
        if button is None:
            raise AssertionError(f"no button {custom_id!r} on message {message['id']}: {list(self.buttons(message))}")
        if button.get("disabled"):
            raise AssertionError(f"button {custom_id!r} is disabled")
        return self._interaction(3, user, {"custom_id": custom_id, "component_type": 2}, dict(message))

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
        return self._interaction(3, user, data, dict(message))

    def modal_submit(self, modal: dict, values: dict[str, str], user: dict, message: dict | str | None = None,
                     *, enforce_limits: bool = True) -> dict:
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
        return self._interaction(5, user, data, dict(message) if message else None)
