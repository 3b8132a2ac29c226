"""``fenxiao`` console script.

fenxiao local up [--port 8000] [--host 127.0.0.1] [--operator-token TOKEN] [--allow-clock-override] [--demo]
fenxiao local demo --api URL --operator-token TOKEN [--standin URL]
"""

from __future__ import annotations

import argparse
import logging
import secrets
import signal
import sys
import threading
from pathlib import Path
from typing import Any


def _print(line: str) -> None:
    print(line, flush=True)


def _positive_or_zero(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def build_parser() -> argparse.ArgumentParser:
    from fenxiao_local.stack import DEFAULT_TEMPLATE, default_retry_seconds

    parser = argparse.ArgumentParser(prog="fenxiao", description="fenxiao developer commands")
    commands = parser.add_subparsers(dest="command", required=True)
    local = commands.add_parser("local", help="the local stack").add_subparsers(
        dest="local_command", required=True
    )

    up = local.add_parser("up", help="start the whole stack in this process until Ctrl-C")
    up.add_argument("--host", default="127.0.0.1", help="address of the HTTP API (default 127.0.0.1)")
    up.add_argument("--port", type=_positive_or_zero, default=8000, help="port of the HTTP API (0: any free)")
    up.add_argument(
        "--standin-port",
        type=_positive_or_zero,
        default=None,
        help="port of the WeChat Pay stand-in on 127.0.0.1 (default: API port + 1)",
    )
    up.add_argument(
        "--operator-token",
        default=None,
        help="the operator bearer token, at least 32 characters (default: a new random one)",
    )
    up.add_argument(
        "--allow-clock-override",
        action="store_true",
        help='let POST /admin/jobs/{job} {"now": ...} set the stack\'s clock (local only)',
    )
    up.add_argument(
        "--retry-seconds",
        type=_retry_seconds,
        default=default_retry_seconds(),
        help="seconds before a failed queue message is retried (local shortcut of the "
        "visibility timeout; 'off' keeps the queue's own; env FENXIAO_LOCAL_RETRY_SECONDS)",
    )
    up.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="the template's LogLevel parameter, and the local stack's own log level",
    )
    up.add_argument(
        "--template", type=Path, default=DEFAULT_TEMPLATE, help="the SAM template (template.yaml)"
    )
    up.add_argument(
        "--standin-keys",
        type=Path,
        default=None,
        help="JSON file of the stand-in's keys: loaded if it exists, else generated and saved",
    )
    up.add_argument(
        "--demo", action="store_true", help="play the demo once the stack is up, and keep running"
    )

    demo = local.add_parser("demo", help="play the demo against a running stack")
    demo.add_argument("--api", required=True, help="the API base URL printed by `fenxiao local up`")
    demo.add_argument("--operator-token", required=True)
    demo.add_argument("--standin", default=None, help="the WeChat Pay stand-in URL (default: API port + 1)")
    from fenxiao_local import dlq

    dlq.add_parser(commands)
    from fenxiao_local import bench

    bench.add_parser(commands)
    return parser


def _retry_seconds(text: str) -> int | None:
    if text.lower() in {"off", "none"}:
        return None
    return _positive_or_zero(text)


def _configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[local] %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("fenxiao_local")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def local_up(args: argparse.Namespace) -> int:
    from fenxiao.config import ConfigurationError
    from fenxiao_local.fast_moto import MotoVersionError
    from fenxiao_local.stack import LocalStack, StackOptions
    from fenxiao_local.template import TemplateError

    _configure_logging(args.log_level)
    token = args.operator_token or secrets.token_urlsafe(32)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    options = StackOptions(
        host=args.host,
        port=args.port,
        standin_port=args.standin_port,
        operator_token=token,
        allow_clock_override=args.allow_clock_override,
        retry_seconds=args.retry_seconds,
        log_level=args.log_level,
        template=args.template,
        standin_keys_file=args.standin_keys,
    )
    stack = LocalStack(options, progress=_print)
    code = 0
    try:
        try:
            stack.start()
        except (TemplateError, ConfigurationError, OSError, MotoVersionError) as exc:
            _print(f"[local] cannot start: {exc}")
            return 1
        _print(f"WeChat Pay stand-in: {stack.standin_url} (local only; GET /standin/keys)")
        if args.allow_clock_override:
            _print('Clock override: allowed (POST /admin/jobs/{job} {"now": "<RFC 3339>"})')
        _print(f"API: {stack.api_url}\nOperator token: {token}")
        _print("[local] ready; Ctrl-C stops")
        failed = threading.Event()
        if args.demo:
            threading.Thread(
                target=_play_demo, args=(stack, token, stop, failed), name="demo", daemon=True
            ).start()
        while not stop.wait(0.5):
            pass
        code = 1 if failed.is_set() else 0
    finally:
        _print("[local] stopping")
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _print("[local] stopped")
    return code


def _play_demo(stack: Any, token: str, stop: threading.Event, failed: threading.Event) -> None:
    from fenxiao_local import demo

    if demo.run(stack.api_url, token, stack.standin_url, out=_print) != 0:
        _print("[local] the demo failed: stopping the stack")
        failed.set()
        stop.set()


def local_demo(args: argparse.Namespace) -> int:
    from fenxiao_local import demo

    return demo.run(args.api, args.operator_token, args.standin, out=_print)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "local" and args.local_command == "up":
        return local_up(args)
    if args.command == "local" and args.local_command == "demo":
        return local_demo(args)
    if args.command == "bench":
        from fenxiao_local import bench

        return bench.command(args, out=_print)
    if args.command == "dlq":
        from fenxiao_local import dlq

        return dlq.command(args, out=_print)
    raise AssertionError("unreachable: argparse requires a command")


if __name__ == "__main__":
    sys.exit(main())
