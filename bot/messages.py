"""Every sentence a member reads, for both platforms and the CLI: one place to reword, with plurals.

Functions take what varies (counts, names, the platform) and return finished text. Where the two
platforms differ (Telegram types `/done`, Discord presses Done), the text is keyed by platform here,
not chosen in the adapters.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.commands import DISCORD, ONBOARD_COMMAND, TELEGRAM, for_platform
from storage.store import Profile
from viper.contracts.errors import (
    InvalidArgument, JobCancelled, JobFailed, JobTimeout, ModelUnavailable, NotYours, QueueUnavailable, ViperError,
)


def plural(n: int, word: str, many: str | None = None) -> str:
    """`1 comment`, `2 comments` (`many` for irregular plurals)."""
    return f"{n} {word}" if n == 1 else f"{n} {many or word + 's'}"


def joined(parts: Sequence[str]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


TOKEN_HELP = {
    TELEGRAM: "TELEGRAM_TOKEN: talk to @BotFather on Telegram, send /newbot, and copy the token it gives you.",
    DISCORD: (
        "DISCORD_TOKEN: create an application in the Discord Developer Portal, add a Bot, copy its token, "
        "and invite it with the 'bot' and 'applications.commands' scopes."
    ),
}

TOKEN_VARIABLE = {TELEGRAM: "TELEGRAM_TOKEN", DISCORD: "DISCORD_TOKEN"}


def token_refused(platform: str, reason: str) -> str:
    """One line for an operator whose token the platform refused."""
    return f"{TOKEN_VARIABLE[platform]} was refused by {platform.capitalize()} ({reason}). {TOKEN_HELP[platform]}"


# -- help --------------------------------------------------------------------------------------------


def help_text(platform: str, min_comments: int) -> str:
    """/help on `platform`: every command of the catalogue there, then how to begin."""
    bullet = "• " if platform == DISCORD else ""
    lines = ["**ViPer** learns your visual taste once, then paints every image your way." if platform == DISCORD
             else "Here is what I can do:"]
    lines += [f"{bullet}{command.usage(platform)}: {command.description}" for command in for_platform(platform)]
    lines.append(
        f"Start with {ONBOARD_COMMAND[platform]}{' in our private chat' if platform == TELEGRAM else ''}: comment on "
        f"at least {min_comments} gallery images that you love or dislike, saying why (colours, style, mood, texture, "
        f"light, composition); {finish_how(platform)} builds your profile, and every /imagine after that leans "
        "towards your taste."
    )
    lines.append(imagine_options(platform))
    return "\n".join(lines)


def imagine_options(platform: str) -> str:
    """How to steer one /imagine, and what the buttons under an image do."""
    if platform == DISCORD:
        how = ("/imagine has options: ar (aspect ratio), seed, strength (0 plain … 2 strongest), no (what to avoid), "
               "steps, profile (share codes, or me, to paint in those tastes).")
    else:
        how = ("Steer one /imagine with flags after the prompt: /imagine a lighthouse at dusk --ar 16:9 --seed 7 "
               "--strength 1.5 --no text, watermark --steps 30 (--p CODE paints in a shared taste).")
    return (how + " Under every image: 🔄 Reroll, 🎲 Vary, ⚖ Compare (plain vs yours), ℹ Info, 👍/👎, "
            "💬 Why (tell me what you think: I learn from it) and ✨ Mine (anyone: the same image in their taste).")


def finish_how(platform: str) -> str:
    return "/done" if platform == TELEGRAM else "**Done**"


# -- onboarding --------------------------------------------------------------------------------------

HOW_TO_COMMENT = {
    TELEGRAM: (
        "To comment, tap an image's number under the album and then type, or reply to the image (swipe left "
        "on it, or long-press and choose Reply), and say what you love or dislike about it."
    ),
    DISCORD: (
        "Press **Comment** under an image that stirs you and say what you love or dislike about it, "
        "**Skip** to pass on one that leaves you cold, **Previous** and **Next** to browse, and **Done** "
        "once you have enough comments. Your place is saved as you go."
    ),
}
TAP_OR_REPLY = "Tap a number below and type, or reply to an image."


def intro(comments: int, needed: int, resumed: bool, platform: str, has_profile: bool = False) -> str:
    """The first lines of onboarding (or of its resumption)."""
    if platform == TELEGRAM:
        so_far = f"{comments} of {needed} comments" if comments < needed else f"{comments} comments, enough for /done"
        if resumed:
            return f"Welcome back! You have {so_far}; let's carry on.\n{TAP_OR_REPLY}"
        if has_profile and comments:
            return (
                f"You already have a taste profile, built from {plural(comments, 'comment')}: comment on more "
                f"images and send /done to sharpen it, or /redo to start from scratch.\n{TAP_OR_REPLY}"
            )
        return (
            "I'll learn your visual taste, so every image I make for you leans your way.\n"
            f"Comment on at least {needed} images that you love or dislike and say why: tap a number below and "
            "type, or reply to an image."
        )
    if resumed:
        return f"Welcome back! You have {comments} of {needed} comments; let's continue.\n{HOW_TO_COMMENT[platform]}"
    return (
        "I'll learn your visual taste so every image I make for you leans your way.\n"
        f"Pick at least {needed} images that you love or dislike and tell me why, as an artist would: "
        f"colours, style, mood, texture, light, composition. {HOW_TO_COMMENT[platform]}"
    )


def comment_ack(count: int, need: int, platform: str = TELEGRAM) -> str:
    done_hint = "Press Done" if platform == DISCORD else "Send /done"
    if count < need:
        return f"Noted! {count} of {need} comments."
    if count == need:
        return (f"Noted! {count} of {need} comments: that's enough. {done_hint} to build your profile, "
                "or keep going for a sharper one.")
    return f"Noted! {count} comments (more detail gives better personalisation). {done_hint} when ready."


def page_footer(page: int, pages: int, count: int, need: int) -> str:
    """Under a Telegram album: where the member is and what to do next."""
    so_far = f"{count} of {need} comments" if count < need else f"{count} comments, enough for /done"
    return (
        f"Page {page + 1} of {pages}; you have {so_far}.\n"
        "Tap a number, then type your comment (or reply to an image). "
        "/more shows more images, /done builds your profile, /cancel pauses."
    )


def pager_progress(count: int, need: int) -> str:
    """Under a Discord pager image."""
    if count < need:
        return f"{count} of {need} comments"
    return f"{count} of {need} comments ✓ press Done to build your profile"


def pager_caption(number: int, total: int, earlier: str | None, count: int, need: int, header: str = "") -> str:
    mark = f"✔ You commented: “{fit(earlier, 160)}”" if earlier else ""
    parts = (header, f"**Image {number} of {total}**", mark, pager_progress(count, need))
    return "\n".join(part for part in parts if part)


def type_comment_on(number: int, earlier: str | None) -> str:
    text = f"Now type your comment on #{number}: what do you love or dislike about it, and why?"
    if earlier:
        text += f"\nIt replaces what you said before: “{fit(earlier, 300)}”"
    return text


def picked(number: int) -> str:
    return f"#{number}: now type your comment"


def comment_refused(error: BaseException, retry: str) -> str:
    return f"{friendly(error)} Nothing was saved; {retry}"


COMMENT_WHILE_BUILDING = (
    "I'm building your profile from the comments you sent; add more once it's ready (/done again sharpens it)."
)
RETRY_REPLY = "reply to the image again with a shorter comment."


def retry_typing(number: int | None) -> str:
    return f"type a shorter one: #{number} is still waiting for it."


NOT_A_GALLERY_IMAGE = (
    "That message isn't one of the gallery images. " + HOW_TO_COMMENT[TELEGRAM]
    + f" Use {ONBOARD_COMMAND[TELEGRAM]} or /more to see them."
)


def which_image(count: int, need: int) -> str:
    return (
        "Which image is that about? Tap its number under the album and then type, or reply to an image. "
        f"You have {count} of {need} comments."
    )


def idle_text(paused_with: int | None) -> str:
    """A plain message from a member who is not onboarding."""
    paused = (f"Your onboarding is paused with {plural(paused_with, 'comment')}; /start continues it. "
              if paused_with is not None else "")
    return f"{paused}Send /imagine <prompt> to make an image, {ONBOARD_COMMAND[TELEGRAM]} to teach me your taste, or /help."


def paused(count: int) -> str:
    kept = f"Your {plural(count, 'comment')} {'is' if count == 1 else 'are'} kept"
    return f"Paused. {kept}; {ONBOARD_COMMAND[TELEGRAM]} to continue where you left off."


def nothing_to_pause(already_paused: bool) -> str:
    start = ONBOARD_COMMAND[TELEGRAM]
    return f"Onboarding is already paused; {start} continues it." if already_paused \
        else f"There is no onboarding to pause; {start} begins one."


def too_few_comments(count: int, need: int) -> str:
    return (
        f"You have {count} of {need} comments so far; comment on {plural(need - count, 'more image')} "
        f"before /done. {HOW_TO_COMMENT[TELEGRAM]}"
    )


def analysing(count: int) -> str:
    return f"Analysing your {count} comments… this can take a minute."


LEARNED = "Here is what I learned from your comments."
GALLERY_EMPTY = "The gallery is empty; ask the operator to add images."
NOT_TEXT = (
    "I only read text. To teach me your taste, describe in words what you like or dislike about a gallery "
    "image (reply to it, or tap its number and type); /imagine <prompt> makes a picture."
)
UNKNOWN_COMMAND = "I don't know that command. /help lists what I can do."
STALE_BUTTON = "That button no longer does anything; /help lists what I can do."
NOT_YOURS = "These buttons belong to someone else, so I changed nothing. Run the command yourself to get your own."

# Telegram group chats send members to the private chat for anything personal.
PRIVATE_CHAT_BUTTON = "Open our private chat"
TO_PRIVATE = {
    "onboard": "Onboarding happens in our private chat, so the gallery doesn't flood this group. Tap below to open it.",
    "more": "The gallery lives in our private chat: tap below to open it.",
    "done": "Your profile is built in our private chat: tap below and I'll finish there.",
    "redo": "Starting over happens in our private chat: tap below.",
    "forget": "Deleting your data is between us: tap below and confirm in our private chat.",
    "profile": "I can't write to you privately until you open our chat: tap below and I'll show your profile there.",
    "share": "I can't write to you privately until you open our chat: tap below and I'll give you a share code there.",
    "unshare": "I can't write to you privately until you open our chat: tap below, then send /profile unshare there.",
    "export": "I can't write to you privately until you open our chat: tap below and I'll send your profile file there.",
    "import": "Importing a profile happens in our private chat: tap below, then send the file /profile export made "
              "with the caption /profile import.",
    "link": "Link codes are secret, so linking happens in our private chat: tap below and I'll show your code there "
            "(to use a code from your other platform, send /link CODE there).",
    "unlink": "I can't write to you privately until you open our chat: tap below, then send /unlink there.",
}
PROFILE_SENT_PRIVATELY = "📬 I sent your profile to our private chat."
ANSWERED_PRIVATELY = "📬 I answered in our private chat."
LINK_CODE_IN_GROUP = ("Link codes are secret, and this group has seen that one, so I cancelled it. Tap below, run /link "
                      "on your other platform for a new code and send /link CODE in our private chat.")

# -- profile -----------------------------------------------------------------------------------------


def format_profile(profile: Profile | None, onboard_command: str) -> str:
    if profile is None:
        return f"You have no taste profile yet. Start with {onboard_command} to build one (it takes about five minutes)."
    liked = ", ".join(profile.liked) or "(nothing specific)"
    disliked = ", ".join(profile.disliked) or "(nothing specific)"
    text = f"Your taste profile\n👍 Liked: {liked}\n👎 Disliked: {disliked}"
    if profile.personalised_images:
        text += "\n" + verdicts_line(profile.liked_images, profile.disliked_images, profile.personalised_images)
    if profile.linked:
        text += f"\n🔗 One profile for your accounts: {joined(profile.linked)} (/unlink splits them)."
    return text


def verdicts_line(up: int, down: int, made: int) -> str:
    return (f"🖼 You liked {up} of your {plural(made, 'personalised image')}"
            + (f" (and disliked {down})" if down else "") + ".")


def profile_hint(platform: str) -> str:
    if platform == TELEGRAM:
        return ("Does this look like you? Tap ✖ to drop a feature that isn't; /like or /dislike adds (or flips) one in "
                "your own words. Then try /imagine <prompt>.")
    return ("Every /imagine you ask for now leans your way. If a feature isn't you, remove it below; "
            "if the lists feel off, redo onboarding.")


def some_have_buttons(shown: int) -> str:
    return f" (The first {shown} features have a button.)"


def accepted(platform: str) -> str:
    if platform == TELEGRAM:
        return "✅ Saved. Every /imagine now leans your way: try /imagine <prompt>."
    return "✅ Saved. Every /imagine now leans your way; /profile shows or edits these lists any time."


def comments_so_far(count: int, need: int, platform: str) -> str:
    return f"You have {count} of {need} comments so far; {ONBOARD_COMMAND[platform]} picks up where you left off."


def taste_added(added: list[str], liked: bool) -> str:
    """The answer to /like or /dislike."""
    return f"{'👍' if liked else '👎'} Added to your {'liked' if liked else 'disliked'} features: {', '.join(added)}."


def taste_usage(liked: bool, example: str) -> str:
    command = "like" if liked else "dislike"
    return f"Usage: /{command} <features>, separated by commas, for example: /{command} {example}"


def removed(feature: str) -> str:
    return f"Removed “{feature}”"


PROFILE_CHANGED = "Your profile changed since this message; here it is as it is now."
NO_PROFILE_ANY_MORE = "You have no profile any more."

# -- redo and forget (they delete data: both ask first) ------------------------------------------------


def ask_redo(count: int, platform: str) -> str:
    if platform == TELEGRAM:
        return (f"Start onboarding over? This deletes your {plural(count, 'comment')}. A profile you already have "
                "stays until /done builds the new one.")
    return (f"Start over? This deletes your {plural(count, 'comment')} and takes you back to image 1. "
            "Your current profile keeps personalising your images until Done builds a new one.")


REDO_YES = "Yes, start over"
REDO_NO = {TELEGRAM: "No, keep them", DISCORD: "Keep my comments"}
STARTING_OVER = "Starting over: your earlier comments are deleted."
STARTED_OVER = "🔁 Your earlier comments are deleted; let's start again."


def redo_declined(count: int, platform: str) -> str:
    if platform == DISCORD:
        return "Nothing changed; your comments are kept."
    return f"Nothing changed: your {plural(count, 'comment')} {'is' if count == 1 else 'are'} kept."


def stored_about(profile: Profile | None, comments: int, onboarding: bool, name: str, platform: str,
                 images: int = 0, accounts: Sequence[str] = ()) -> list[str]:
    """What the store holds about a member, phrase by phrase (the same list on every platform)."""
    parts = []
    if len(accounts) > 1:
        parts.append(f"your linked accounts {joined(list(accounts))}, all of them")
    if profile is not None:
        parts.append(f"your taste profile ({len(profile.liked)} liked and {len(profile.disliked)} disliked features)")
    if comments:
        parts.append(f"your {plural(comments, 'comment')} on images I showed you")
    if images:
        parts.append(f"the {plural(images, 'image')} I made for you, with your 👍/👎 and /settings")
    if onboarding:
        parts.append("your place in the gallery")
    parts.append("the record of your /imagine requests")
    parts.append(f"your name ({name})" if name else f"your {platform.capitalize()} user id")
    return parts


NOTHING_STORED = "I don't store anything about you."


def ask_forget(stored: list[str]) -> str:
    return f"Delete everything I store about you? That is {joined(stored)}. This can't be undone."


FORGET_YES = "Yes, delete everything"
FORGET_NO = "Keep my data"
FORGET_KEPT = "Kept: nothing was deleted; your data stays as it was."
NOTHING_LEFT = "There was nothing left to delete."


def forgotten(stored: list[str], platform: str) -> str:
    text = f"Deleted {joined(stored)}. I know nothing about you now; "
    if platform == DISCORD:
        text += ("images already posted in a channel stay there; delete those messages if you want them gone. "
                 f"{ONBOARD_COMMAND[platform]} starts afresh whenever you like.")
    else:
        text += f"{ONBOARD_COMMAND[platform]} whenever you want to teach me your taste again."
    return "🗑️ " + text if platform == DISCORD else text


# -- imagine -----------------------------------------------------------------------------------------

IMAGINE_USAGE = ("Usage: /imagine <prompt> [flags], for example: /imagine a lighthouse at dusk --ar 16:9 --seed 7. "
                 "Flags: --ar, --seed, --strength, --no, --steps (/help says more).")
RESUMED_LINE = "🎨 I was restarted; picking your image back up…"
DONE_LINE = {TELEGRAM: "✅ Done: your image is below.", DISCORD: "✅ Your image is ready: it's in the channel."}


def needs_profile(error: BaseException, private: bool) -> str:
    return (f"{friendly(error)} Here I only paint for members whose taste I know: {ONBOARD_COMMAND[TELEGRAM]} "
            f"{'teaches' if private else 'in our private chat teaches'} me yours in about five minutes.")


def cancel_answer(cancelled: bool) -> str:
    """The answer to an image's Cancel button (the status message then says how the job ended)."""
    return "Cancelling…" if cancelled else "That one has already finished."


def queued(position: int | None, workers_alive: bool, personalised: bool, onboard_command: str) -> str:
    where = f"position {position} in the queue" if position else "starting now"
    text = f"🎨 Queued: {where}."
    if not workers_alive:
        text += " No image worker is running right now; your image will start as soon as one is."
    if not personalised:
        text += f"\nTip: this one isn't personalised. Use {onboard_command} so I learn your taste."
    return text


def progress(step: int | None, total: int | None, position: int | None) -> str:
    if step is not None and total:
        filled = round(10 * step / total)
        return f"🎨 Painting… {'▰' * filled}{'▱' * (10 - filled)} step {step}/{total}"
    if position:
        return f"🎨 Queued: position {position} in the queue."
    return "🎨 Starting…"


ACTION_CAPTION = {"reroll": "🔄 Reroll: ", "vary": "🎲 Variation: ", "compare": "⚖ Plain vs personalised: ",
                  "mine": "✨ In your taste: "}


def caption(prompt: str, personalised: bool, seed: int, width: int, height: int, steps: int,
            action: str = "imagine") -> str:
    if action == "compare":
        return f"{ACTION_CAPTION['compare']}“{prompt}” (seed {seed}, {steps} steps; plain on the left)"
    how = "personalised with your taste profile" if personalised else "not personalised"
    return f"{ACTION_CAPTION.get(action, '')}“{prompt}” ({how}, seed {seed}, {width}×{height}, {steps} steps)"


# -- actions under an image, comments on results, /settings ------------------------------------------

ACTION_STARTED = {
    "reroll": "🔄 Rerolling with a new seed…", "vary": "🎲 Making a variation…",
    "compare": "⚖ Painting the plain version beside it…", "mine": "✨ Making it in your taste…",
}
COMPARE_LABELS = ("plain", "personalised")
WHY_TOAST = "Tell me what you like or dislike about this image."
UNDO_LABEL = "↩ Undo"
UNDONE_TOAST = "Undone"
SETTING_SAVED = "✅ Saved."
DELIVERY_LABELS = {"channel": "📢 Post in the chat", "private": "🔒 Send privately"}


WHY_FORM_LABEL = "What do you like or dislike about this image?"  # Discord: at most 45 characters
WHY_FORM_PLACEHOLDER = "e.g. love the warm light; the blue sky feels flat. I'll learn from it."  # at most 100


# Telegram's 💬 Why asks in the chat (Discord opens a form with the two lines above).
WHY_PROMPT = ("💬 What do you like or dislike about this image? Reply to the image (or to this message) in a "
              "sentence or two, for example: “love the warm light, the blue sky feels flat”. I'll learn from it.")


def rereading(count: int) -> str:
    """Said when a comment on a result starts extraction over all of the member's comments."""
    return f"💬 Reading all your {plural(count, 'comment')} again… this can take a minute."


IMAGE_COMING_PRIVATELY = "📬 Your image is on its way to our private chat (your /settings say so)."
PRIVATE_REFUSED = ("I can't write to you privately until you open our chat with me, so your image comes here; "
                   "/settings changes where they go.")


def verdict_noted(verdict: int) -> str:
    return "👍 Noted: you like this one." if verdict > 0 else "👎 Noted: not your taste. 💬 Why tells me what's off."


def result_info(recipe: dict, made: dict, prompt: str) -> str:
    text = _result_info(recipe, made, prompt)
    if recipe.get("profiles"):
        text += "\n🔗 Profiles blended: " + ", ".join(recipe["profiles"])
    return text


def _result_info(recipe: dict, made: dict, prompt: str) -> str:
    """ℹ Info: prompt, parameters, seed, model, steps, time, and the features in the order used."""
    params = []
    if recipe.get("aspect"):
        params.append(f"ar {recipe['aspect']}")
    params.append(f"{made.get('width')}×{made.get('height')}")
    strength = recipe.get("strength")
    params.append(f"strength {strength:g}" if isinstance(strength, (int, float)) else "strength 1 (default)")
    if recipe.get("negative_prompt"):
        params.append(f"no: {recipe['negative_prompt']}")
    how = {"img2img": "a variation of an earlier image", "compare": "plain beside personalised"}.get(made.get("method", ""))
    lines = [f"ℹ “{prompt}”"]
    if how:
        lines.append(f"Made as {how}.")
    lines += [
        "Parameters: " + ", ".join(params),
        f"Seed {made.get('seed')} · {plural(int(made.get('steps') or 0), 'step')} · "
        f"{float(made.get('seconds') or 0):.1f} s · model {made.get('model')}",
    ]
    liked, disliked = made.get("liked_used") or [], made.get("disliked_used") or []
    if made.get("personalised"):
        lines.append("👍 Liked, in the order used: " + (", ".join(liked) or "(none)"))
        lines.append("👎 Disliked, in the order used: " + (", ".join(disliked) or "(none)"))
    else:
        lines.append("Not personalised: no taste profile shaped it.")
    return "\n".join(lines)


def result_comment_counted(count: int, need: int) -> str:
    if count >= need:
        return f"💬 Thanks, noted ({plural(count, 'comment')})."
    return (f"💬 Thanks, noted: {count} of the {need} comments I need to build your taste profile. "
            "Comment on more of your images (💬 Why), or on the gallery, and I'll build it.")


def profile_change(before: Profile | None, after: Profile) -> str:
    """What an extraction changed in a profile, feature by feature."""
    old_liked, old_disliked = (before.liked, before.disliked) if before else ([], [])
    lines = []
    for sign, label, features in (
        ("+", "liked", [f for f in after.liked if f not in old_liked]),
        ("−", "liked", [f for f in old_liked if f not in after.liked]),
        ("+", "disliked", [f for f in after.disliked if f not in old_disliked]),
        ("−", "disliked", [f for f in old_disliked if f not in after.disliked]),
    ):
        if features:
            lines.append(f"{sign} {label}: {', '.join(features)}")
    if not lines:
        return "💬 Thanks! I read all your comments again; your profile stays as it was."
    head = "💬 Thanks! I read all your comments again. Your profile changed:" if before else (
        "💬 Thanks! I built your taste profile from your comments:")
    return head + "\n" + "\n".join(lines) + "\nNot right? ↩ Undo puts the previous profile back."


def undone(profile: Profile | None) -> str:
    if profile is None:
        return "↩ Undone: you have no taste profile again, as before."
    return "↩ Undone: your profile is back as it was.\n" + format_profile(profile, "")


def settings_text(current, default_steps: int, note: str = "") -> str:
    """/settings: a member's /imagine defaults (`MemberSettings`)."""
    strength = "1 (as configured)" if current.strength is None else f"{current.strength:g}"
    lines = [
        "⚙ Your /imagine defaults (flags on one /imagine still win):",
        f"• Aspect ratio: {current.ar or 'auto (square)'}",
        f"• Personalisation strength: {strength} (0 = plain, 2 = strongest)",
        f"• Steps: {current.steps or f'auto ({default_steps})'}",
        f"• Results: {DELIVERY_LABELS.get(current.delivery, current.delivery)}",
    ]
    return "\n".join(([note] if note else []) + lines)


TINY_MODEL_NOTE = (
    "Made with the tiny test model (random weights): it shows noise, not a real picture. "
    "Set [engine] model to SDXL on a GPU worker for real images."
)
PROMPT_CUT_NOTE = "Your prompt was longer than SDXL reads (77 tokens); the end was cut."

# -- profiles that travel: share codes, /link, export and import -----------------------------------


def shared(code: str) -> str:
    return (f"🔗 Your share code: {code}\nAnyone can paint in your taste with /imagine <prompt> --p {code} "
            "(on Discord: the profile option). It follows your profile as it changes; /profile unshare revokes "
            "every code you gave.")


def unshared(revoked: int) -> str:
    if not revoked:
        return "You had no share codes; nothing to revoke."
    return f"🔒 Revoked {plural(revoked, 'share code')}: nobody can use your profile with them any more."


def link_code_text(code: str, platform: str, minutes: int) -> str:
    other = "Discord" if platform == TELEGRAM else "Telegram"
    usage = f"/link {code}" if other == "Telegram" else f"/link code: {code}"
    return (f"🔗 Your link code: {code}\nOn {other}, type {usage} within {plural(minutes, 'minute')}. "
            "Both accounts then share one taste profile. The code works once.")


LINK_UNKNOWN = "that link code is unknown or has expired; run /link on your other platform for a new one"
LINK_CANCELLED = "Not linked: both accounts stay as they were."
NOTHING_TO_UNLINK = "This account isn't linked with another one."


def link_same_platform(platform: str) -> str:
    other = "Discord" if platform == TELEGRAM else "Telegram"
    return f"that code was made on {platform.capitalize()}; use it on {other}, where your other account is"


def _accounts(accounts) -> str:
    return joined([a.label for a in accounts])


def ask_link(accounts, platform: str, theirs: bool, mine: bool, comments: tuple[int, int]) -> str:
    lines = [f"🔗 Link this {platform.capitalize()} account with {_accounts(accounts)}?",
             "You become one person with one taste profile on both. Comments "
             f"({comments[0]} there, {comments[1]} here), 👍/👎, settings and images of both are kept."]
    if theirs and mine:
        lines.append("Both accounts have a profile: keep one, or merge them (I read all your comments again).")
    elif theirs or mine:
        lines.append(f"The profile {'there' if theirs else 'here'} becomes the profile of both.")
    return "\n".join(lines)


def linked(accounts) -> str:
    return f"🔗 Linked: {_accounts(accounts)} now share one taste profile. /unlink splits them again."


def unlinked(accounts) -> str:
    return f"Unlinked {_accounts(accounts)}: each keeps a copy of the profile and goes its own way from now on."


PROFILE_USAGE = ("Usage: /profile shows your taste profile; /profile share gives a share code, /profile unshare "
                 "revokes them, /profile export sends it as a file, and /profile import (as the caption of that file) "
                 "brings one back.")
EXPORT_CAPTION = ("📤 Your ViPer profile: taste profile, comments, 👍/👎 and settings. To bring it back, here or on "
                  "another account, send this file with the caption /profile import.")
IMPORT_HOW = ("To import a profile, send the file /profile export made as a document (📎 File) with the caption "
              "/profile import.")
IMPORT_YES = "Replace my profile"
IMPORT_NO = "Keep mine"
IMPORT_KEPT = "Kept: nothing was imported."


def ask_import(current: Profile | None, incoming: Profile | None, new_comments: int, old_comments: int) -> str:
    lines = ["📥 This file would replace your profile, comments, 👍/👎 and settings:"]
    old_liked, old_disliked = (current.liked, current.disliked) if current else ([], [])
    new_liked, new_disliked = (incoming.liked, incoming.disliked) if incoming else ([], [])
    for sign, label, features in (
        ("+", "liked", [f for f in new_liked if f not in old_liked]),
        ("−", "liked", [f for f in old_liked if f not in new_liked]),
        ("+", "disliked", [f for f in new_disliked if f not in old_disliked]),
        ("−", "disliked", [f for f in old_disliked if f not in new_disliked]),
    ):
        if features:
            lines.append(f"{sign} {label}: {', '.join(features)}")
    if incoming is None:
        lines.append("The file holds no profile: yours would be removed.")
    elif len(lines) == 1:
        lines.append("The liked and disliked lists are the same as yours.")
    lines.append(f"Comments: {old_comments} now, {new_comments} after.")
    return "\n".join(lines)


def imported(profile: Profile | None, onboard_command: str = ONBOARD_COMMAND[TELEGRAM]) -> str:
    return "📥 Imported.\n" + format_profile(profile, onboard_command)


# -- busy servers: limits, moderation, admin controls --------------------------------------------------

_WHAT = {"prompt": "that prompt", "no": "that --no text", "feature": "that feature", "comment": "that comment"}


def moderated(what: str) -> str:
    """A text a rule refused: never repeats the rule or the text."""
    return (f"{_WHAT.get(what, 'that')} contains something the rules here don't allow, so nothing was "
            "queued or saved. Please rephrase it")


HELD_LINE = "⏸ Waiting: image generation is paused here by the admins; your image keeps its place in the queue."
PAUSED_HERE = "image generation is paused here by the admins; your queued images are kept. Try again later"
ADMIN_ONLY_IN_SERVERS = "admin commands work in a server or group, for its admins"


def _duration(delta) -> str:
    seconds = int(delta.total_seconds() if hasattr(delta, "total_seconds") else delta)
    hours, minutes = divmod(max(60, seconds) // 60, 60)
    return f"{plural(hours, 'hour')} {plural(minutes, 'minute')}" if hours else plural(minutes, "minute")


def _channel(platform: str, channel: str) -> str:
    """A channel as members can find it: Discord's mention; on Telegram, a forum topic
    (`<chat id>/<topic id>`) as its link, the chat itself as its main chat."""
    if platform == DISCORD:
        return f"<#{channel}>"
    chat, _, topic = str(channel).partition("/")
    if not topic:
        return "this group's main chat (outside topics)"
    return f"the topic https://t.me/c/{chat.removeprefix('-100')}/{topic}" if chat.startswith("-100") else f"topic {topic}"


def not_this_channel(platform: str, channels: list[str]) -> str:
    return f"/imagine works only in {joined([_channel(platform, c) for c in channels])} here"


def over_daily_limit(per_day: int, resets_in) -> str:
    return (f"you have used today's {plural(per_day, 'image')} (the daily limit); it resets at midnight UTC, "
            f"in {_duration(resets_in)}")


def cooling_down(wait_s: int) -> str:
    return f"there is a cooldown between images here; try again in {plural(wait_s, 'second')}"


def usage(count: int, per_day: int, resets_in, cooldown: float, places: list) -> str:
    lines = [f"📊 Today: {plural(count, 'image')}"
             + (f" of {per_day}; {max(0, per_day - count)} left, resets at midnight UTC (in {_duration(resets_in)})."
                if per_day else " (no daily limit).")]
    if cooldown:
        lines.append(f"Cooldown between images: {plural(int(cooldown), 'second')}.")
    if places:
        shown = ", ".join(f"#{p}" if p else "starting" for p in places)
        lines.append(f"Queued: {plural(len(places), 'image')} (places in the queue: {shown}).")
    else:
        lines.append("Nothing queued.")
    return "\n".join(lines)


def admin_channels(platform: str, channels: list[str]) -> str:
    if not channels:
        return "/imagine works everywhere here."
    return f"/imagine works only in {joined([_channel(platform, c) for c in channels])}."


def admin_limits(per_day: int, cooldown: float, overridden: bool, exempt: bool) -> str:
    daily = f"{plural(per_day, 'image')} per member per day" if per_day else "no daily limit"
    wait = f"a {plural(int(cooldown), 'second')} cooldown" if cooldown else "no cooldown"
    source = "set here by the admins" if overridden else "the bot's defaults"
    return f"Limits here: {daily}, {wait} ({source}). Admins are {'exempt' if exempt else 'not exempt'}."


def admin_terms(terms: list[str], config_terms: int) -> str:
    base = f" (plus {plural(config_terms, 'term')} the operator blocks everywhere)" if config_terms else ""
    if not terms:
        return "No terms are blocked here by the admins" + base + "."
    return f"Blocked here{base}: " + ", ".join(terms)


def term_added(added: bool) -> str:
    return "Blocked: prompts, features and comments with it are refused here." if added else "That term was already blocked."


def term_removed(removed: bool) -> str:
    return "Unblocked." if removed else "That term wasn't blocked here."


def already_paused(paused: bool) -> str:
    return "Generation is already paused here." if paused else "Generation isn't paused here."


def paused_now(paused: bool, held: int) -> str:
    if paused:
        return f"⏸ Generation paused here; {plural(held, 'queued image')} wait until /admin resume."
    return "▶ Generation resumed; queued images are back in line."


def admin_stats(images: int, members: int, depth: int, by_rule: dict[str, int]) -> str:
    refusals = ", ".join(f"{rule} {n}" for rule, n in sorted(by_rule.items())) or "none"
    return (f"📈 Today here: {plural(images, 'image')} for {plural(members, 'member')}. Queue (everywhere): {depth}. "
            f"Refusals in the last 24 h by rule: {refusals}.")


WITHHELD_REASON = "the image safety check flagged that image, so it was withheld; try another prompt"

# Telegram: a group that `[telegram] allowed_chats` leaves out hears this for a command, nothing else.
NOT_SERVED_HERE = "I'm not switched on in this group; you can still talk to me in a private chat."

# Telegram's /admin: the help line (/admin alone, or an unknown word) and each part's usage.
ADMIN_USAGE = {
    "": ("For this group's admins: /admin channels [all|here], /admin limits [<images per day> <cooldown s> | reset], "
         "/admin block add|remove <term>, /admin block list, /admin pause, /admin resume, /admin stats."),
    "channels": ("Usage: /admin channels shows where /imagine works; /admin channels here keeps it to this topic "
                 "(outside topics: this group's main chat); /admin channels all allows it everywhere in this group."),
    "limits": ("Usage: /admin limits shows this group's limits; /admin limits <images per day> <cooldown in seconds> "
               "sets them (0: none), e.g. /admin limits 5 30; /admin limits reset puts back the bot's defaults."),
    "block": "Usage: /admin block add <word or phrase>, /admin block remove <word or phrase>, or /admin block list.",
}


# -- errors ------------------------------------------------------------------------------------------


def friendly(err: BaseException) -> str:
    """One sentence a member can act on, for any error the core or the engine raises."""
    if isinstance(err, NotYours) and err.argument == "owner":
        return NOT_YOURS
    if isinstance(err, InvalidArgument):
        return f"Sorry, {err.message}."
    if isinstance(err, QueueUnavailable):
        return "The image service is unreachable right now. Nothing was lost; please try again in a minute."
    if isinstance(err, ModelUnavailable):
        return "The image model isn't available on the worker right now; the operator has been told. Please try later."
    if isinstance(err, JobTimeout):
        return "That took far too long, so I stopped waiting. The workers may be busy; please try again later."
    if isinstance(err, JobCancelled):
        return "Cancelled: that image won't be made."
    if isinstance(err, JobFailed):
        return "Something went wrong while making that. Please try again; if it keeps failing, tell the operator."
    if isinstance(err, ViperError):
        return f"Sorry: {err.message}."
    return "Something unexpected went wrong. Please try again."
