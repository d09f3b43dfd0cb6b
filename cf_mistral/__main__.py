"""The ``cf-mistral`` command: ``cf-mistral emulator --port N`` runs the local emulator."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cf-mistral",
        description="Mistral Small 3.1 on Cloudflare Workers AI: the local Workers AI emulator.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    emulator = commands.add_parser(
        "emulator", help="run the Workers AI emulator in the foreground (Ctrl-C stops it)"
    )
    emulator.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    emulator.add_argument("--port", type=int, default=8787, help="port (0 picks a free one)")
    emulator.add_argument(
        "--account-id",
        default="test-account",
        help="account id shown to clients (any account in the URL is accepted)",
    )
    emulator.add_argument(
        "--token", default="test-token", help="bearer token it requires ('' accepts any)"
    )
    emulator.add_argument(
        "--latency", type=float, default=0.0, help="seconds before each response's headers"
    )
    emulator.add_argument(
        "--stream-interval", type=float, default=0.0, help="seconds between stream events"
    )
    emulator.add_argument(
        "--max-recorded-requests",
        type=int,
        default=1000,
        help="how many of the latest requests to keep for /__emulator/requests (default 1000); "
        "older ones are dropped so that memory stays flat",
    )
    emulator.add_argument(
        "--connect-delay",
        type=float,
        default=0.0,
        help="seconds a new connection waits before its first reply (TCP + TLS round trips)",
    )
    emulator.add_argument(
        "--tls",
        action="store_true",
        help='serve HTTPS with a generated certificate (needs pip install "cf-mistral[tls]")',
    )
    emulator.add_argument(
        "--ca-cert",
        default=None,
        metavar="PATH",
        help="with --tls: where to write the CA certificate clients trust (default: a temp file)",
    )

    args = parser.parse_args(argv)
    if args.command == "emulator":
        from cf_mistral.emulator import EmulatorConfig, serve

        config = EmulatorConfig(
            account_id=args.account_id,
            token=args.token or None,
            latency=args.latency,
            stream_interval=args.stream_interval,
            max_recorded_requests=args.max_recorded_requests,
            connect_delay=args.connect_delay,
        )
        if args.ca_cert and not args.tls:
            parser.error("--ca-cert needs --tls")
        serve(
            host=args.host, port=args.port, config=config, tls=args.tls, ca_cert_path=args.ca_cert
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
