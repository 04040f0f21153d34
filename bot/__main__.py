"""The `munorders` command: run the bot, migrate the database, import the organisation."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

from bot.config import Settings

NO_TOKEN = """\
BOT_TOKEN is not set.

To get one: open Telegram, write to @BotFather, send /newbot, choose a name and a username,
and copy the token it gives you. Then either
  export BOT_TOKEN=123456:ABC...      (or put BOT_TOKEN=... into a .env file here)
and run the same command again.

To try the bot without Telegram, run it against the Bot API emulator:  make demo
"""


def _cmd_run(settings: Settings, _args: argparse.Namespace) -> int:
    if not settings.bot_token.get_secret_value():
        print(NO_TOKEN, file=sys.stderr)
        return 2
    from bot.runner import run_bot

    asyncio.run(run_bot(settings))
    return 0


def _cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from storage.migrate import downgrade, upgrade

    if args.down:
        downgrade(settings.database_url, args.down)
    else:
        upgrade(settings.database_url, args.revision)
    print("database is at", args.down or args.revision)
    return 0


def _cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    from bot.domain.errors import BadInput
    from bot.services.orgimport import import_org
    from storage.db import make_engine, make_session_factory
    from storage.migrate import upgrade
    from storage.uow import UnitOfWork

    try:
        data = json.loads(Path(args.file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        print(f"cannot read {args.file}: {e}", file=sys.stderr)
        return 1
    upgrade(settings.database_url)

    async def go() -> int:
        engine = make_engine(settings.database_url)
        try:
            stats = await import_org(UnitOfWork(make_session_factory(engine)), data)
        except BadInput as e:
            print(f"invalid organisation file: {e.params.get('detail', e.code)}", file=sys.stderr)
            return 1
        finally:
            await engine.dispose()
        print(
            f"departments: {stats.departments_created} created, {stats.departments_updated} updated; "
            f"users: {stats.users_created} created, {stats.users_updated} updated"
        )
        return 0

    return asyncio.run(go())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="munorders", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the bot (default)")
    m = sub.add_parser("migrate", help="upgrade the database schema")
    m.add_argument("revision", nargs="?", default="head")
    m.add_argument("--down", metavar="REVISION", help="downgrade to REVISION instead")
    i = sub.add_parser("import-org", help="import departments and staff from a JSON file")
    i.add_argument("file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings()
    handlers = {"run": _cmd_run, None: _cmd_run, "migrate": _cmd_migrate, "import-org": _cmd_import}
    return handlers[args.command](settings, args)


if __name__ == "__main__":
    raise SystemExit(main())
