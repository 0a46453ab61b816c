"""`python -m codec`: run the codec server, make a production key, or set up dev keys."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from codec.dev import prepare_dev_codec
from codec.keys import new_key_entry
from codec.server import serve_codec
from codec.settings import CodecSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codec", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the codec server (keys and tokens from env)")
    serve.add_argument("--host", default=None, help="default CAREPATH_CODEC_HOST or 127.0.0.1")
    serve.add_argument("--port", type=int, default=None, help="default CAREPATH_CODEC_PORT or 8081")
    new_key = commands.add_parser("new-key", help="print a fresh `kid:base64` key entry")
    new_key.add_argument("key_id", help="key ID to store with each payload, e.g. 2025-06")
    dev = commands.add_parser("dev-setup", help="create data/keys/ dev key and operator token")
    dev.add_argument("--data-dir", type=Path, default=Path("data"))
    args = parser.parse_args(argv)

    if args.command == "new-key":
        print(new_key_entry(args.key_id))
        return 0
    if args.command == "dev-setup":
        for name, value in prepare_dev_codec(args.data_dir).items():
            print(f"export {name}={value}")
        return 0
    settings = CodecSettings()
    if not settings.operator_token_values():
        print("no operator tokens: set CAREPATH_OPERATOR_TOKENS or _TOKEN_FILE", file=sys.stderr)
        return 2
    asyncio.run(serve_codec(settings.keyring(), settings, host=args.host, port=args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
