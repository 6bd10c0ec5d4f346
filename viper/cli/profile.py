"""`viper profile export` and `viper profile import`: a member's profile as a JSON document, the
same document `/profile export` sends and `/profile import` reads."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from bot import messages
from bot.core.people import MAX_IMPORT_BYTES
from storage.store import Profile
from viper.cli.common import settings_of
from viper.cli.imagine import resolve_member
from viper.contracts.errors import InvalidArgument


async def _member(runtime, user: str, *, create: bool):
    member = await resolve_member(runtime.store, user)
    platform, _, uid = user.partition(":")
    if member is None and create and uid:
        member = await runtime.store.member(platform, uid)
    if member is None:
        raise InvalidArgument(f"no member {user!r}; give platform:id (telegram:1234) or a unique name", argument="user")
    return member


async def _export(args: argparse.Namespace) -> int:
    from viper.app import open_runtime

    runtime = await open_runtime(settings_of(args), with_queue=False)
    try:
        member = await _member(runtime, args.user, create=False)
        print(json.dumps(await runtime.core.export_person(member.id), ensure_ascii=False, indent=2))
        return 0
    finally:
        await runtime.close()


async def _import(args: argparse.Namespace) -> int:
    from viper.app import open_runtime

    path = Path(args.file)
    try:
        with path.open("rb") as f:
            data = f.read(MAX_IMPORT_BYTES + 1)
    except OSError as e:
        raise InvalidArgument(f"cannot read {path}: {e.strerror or e}", argument="file") from e
    runtime = await open_runtime(settings_of(args), with_queue=False)
    try:
        doc = runtime.core.read_export(data)
        member = await _member(runtime, args.user, create=True)
        incoming = doc.get("profile")
        after = Profile(member.id, incoming["liked"], incoming["disliked"], "") if incoming else None
        print(messages.ask_import(await runtime.store.profile(member.id), after, len(doc.get("comments", [])),
                                  await runtime.store.comment_count(member.id)))
        if not args.yes:
            if not sys.stdin.isatty():
                raise InvalidArgument("add --yes to import without a terminal to confirm on", argument="yes")
            if input("Replace it? [y/N] ").strip().lower() not in ("y", "yes"):
                print(messages.IMPORT_KEPT)
                return 1
        await runtime.core.import_document(member.id, doc)
        print(messages.imported(await runtime.store.profile(member.id)))
        return 0
    finally:
        await runtime.close()


def cmd_profile_export(args: argparse.Namespace) -> int:
    return asyncio.run(_export(args))


def cmd_profile_import(args: argparse.Namespace) -> int:
    return asyncio.run(_import(args))
