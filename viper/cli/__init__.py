"""`viper`: run the bot, the worker, or one-off jobs from a terminal.

    viper up                      bot (every adapter whose token is set) + a worker + embedded Redis
    viper bot | viper worker      the two processes separately (production: workers on GPU hosts)
    viper imagine "prompt" ...    one image through the same queue and profile store
    viper extract FILE            liked/disliked features from a JSON list of comments
    viper gallery build           render the onboarding gallery with the configured model
    viper profile export|import   a member's taste profile as a JSON document
    viper status [--json]         workers alive, the queue per member, the jobs of the last hour
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from viper.cli import common
from viper.cli.common import log
from viper.cli.imagine import cmd_imagine, share_code_arg
from viper.cli.profile import cmd_profile_export, cmd_profile_import
from viper.cli.serve import cmd_bot, cmd_up, cmd_worker
from viper.cli.status import cmd_status
from viper.cli.tools import cmd_extract, cmd_gallery_build
from viper.contracts.config import ConfigError
from viper.contracts.errors import ViperError
from viper.contracts.jobs import ASPECT_RATIOS


# -- entry point --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="viper", description="ViPer Bot: personalised image generation for Discord and Telegram.")
    p.add_argument("--config", help="path of config.toml (default: $VIPER_CONFIG, else ./config.toml)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("up", help="run the bot, a worker and (unless [redis] url is set) an embedded Redis").set_defaults(func=cmd_up)
    sub.add_parser("bot", help="run the chat adapters only").set_defaults(func=cmd_bot)
    w = sub.add_parser("worker", help="run one generation/extraction worker")
    w.add_argument("--redis-url", help="Redis to take jobs from (default: [redis] url or the embedded one)")
    w.set_defaults(func=cmd_worker)
    st = sub.add_parser("status", help="workers alive, queue depth per member, jobs by status in the last hour")
    st.add_argument("--json", action="store_true", help="one JSON object, for scripts")
    st.set_defaults(func=cmd_status)

    i = sub.add_parser("imagine", help="generate one image through the queue")
    i.add_argument("prompt")
    i.add_argument("-o", "--output", default="out.png", help="PNG file to write (default: out.png)")
    i.add_argument("--user", help="personalise with this member's profile (NAME or platform:id)")
    i.add_argument("--liked", help='liked features, comma-separated: "teal, flowing lines"')
    i.add_argument("--disliked", help='disliked features, comma-separated')
    i.add_argument("--negative", help="negative prompt (default: empty)")
    i.add_argument("--no", metavar="TEXT",
                   help='what to keep out of the image: "text, watermark" (joins the disliked side, like the '
                   "bot's --no; with --negative, both are used)")
    i.add_argument("--no-shuffle", action="store_true", help="keep the keywords' order (default: seeded shuffle)")
    i.add_argument("--seed", type=int)
    i.add_argument("--steps", type=int)
    i.add_argument("--ar", choices=ASPECT_RATIOS, metavar="W:H",
                   help=f"aspect ratio, one of {', '.join(ASPECT_RATIOS)}; the worker picks the size for its model "
                   "(--width and --height together win over it)")
    i.add_argument("--width", type=int)
    i.add_argument("--height", type=int)
    i.add_argument("--guidance", type=float)
    i.add_argument("--strength", type=float,
                   help="personalisation strength from 0 to 2, a multiplier of the configured liked/disliked "
                   "strengths (default 1 = as configured; 0 = off)")
    i.add_argument("--p", nargs="+", metavar="CODE", type=share_code_arg,
                   help="paint in the taste of these share codes (from /profile share), blended; me = --user's profile")
    i.set_defaults(func=cmd_imagine)

    pr = sub.add_parser("profile", help="export or import a member's taste profile (JSON)")
    psub = pr.add_subparsers(dest="profile_command", required=True, metavar="ACTION")
    x = psub.add_parser("export", help="print a member's profile, comments, verdicts and settings as JSON")
    x.add_argument("--user", required=True, help="the member: platform:id (telegram:1234) or a name")
    x.set_defaults(func=cmd_profile_export)
    m = psub.add_parser("import", help="replace a member's profile with an exported JSON file (asks first)")
    m.add_argument("--user", required=True, help="the member: platform:id (telegram:1234) or a name")
    m.add_argument("file", help="a file written by /profile export or viper profile export")
    m.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    m.set_defaults(func=cmd_profile_import)

    e = sub.add_parser("extract", help="extract liked/disliked features from a JSON list of comments")
    e.add_argument("file", help='JSON list of {"comment": ..., "image": optional gallery id or image path}')
    e.add_argument("--backend", choices=("lexicon", "vpe", "openai"), help="extraction backend (default: [extraction] backend)")
    e.set_defaults(func=cmd_extract)

    g = sub.add_parser("gallery", help="manage the onboarding gallery")
    gsub = g.add_subparsers(dest="gallery_command", required=True, metavar="ACTION")
    b = gsub.add_parser(
        "build",
        help="render the gallery with the configured model from the curated prompt list (resumable)",
        description="Render the onboarding gallery with [engine] model. Run it again to resume after an "
        "interruption; images already rendered with the same settings are kept.",
    )
    b.add_argument("--out", help="folder to write (default: <data_dir>/gallery-model)")
    b.add_argument("--steps", type=int, help="denoising steps (default: [engine] steps)")
    b.add_argument("--size", type=int, help="image side in pixels, a multiple of 8 (default: the model's native size)")
    b.add_argument("--seed", type=int, default=0, help="base seed; each image's seed derives from it and its id (default 0)")
    b.add_argument("--limit", type=int, help="use only the first N prompts")
    b.add_argument("--prompts", help="a prompt list of your own, in the format of engine/gallery_prompts.toml")
    b.add_argument("--restart", "--force", dest="restart", action="store_true",
                   help="delete the images an earlier build left in the folder and start over (needed to change settings)")
    b.set_defaults(func=cmd_gallery_build)
    return p


def main(argv: list[str] | None = None) -> int:
    # Before anything writes a file: the data directory, the SQLite file, the embedded Redis's AOF and
    # its log hold members' comments and prompts, so they are the user's alone (0700 and 0600).
    common.USER_UMASK = os.umask(0o077)
    try:
        return _main(argv)
    finally:
        os.umask(common.USER_UMASK)


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("httpx", "arq.worker", "telegram.ext"):
        logging.getLogger(noisy).setLevel(logging.WARNING if not args.verbose else logging.DEBUG)
    try:
        return args.func(args)
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    except ViperError as e:
        where = f" ({e.argument})" if e.argument else ""
        print(f"error{where}: {e.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # a bug or an unforeseen failure: one line, the traceback with -v
        log.debug("unexpected error", exc_info=True)
        print(f"error: unexpected {type(e).__name__}: {_short(str(e))} (run with -v for details)", file=sys.stderr)
        return 1


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"

