"""The `pinmon` command line: parse arguments, configure logging, call one function.

Heavy imports (aiohttp, apprise) happen inside the commands, so `pinmon --help` stays instant.
"""

from __future__ import annotations

import argparse
import errno
import gc
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from monitor import __version__

if TYPE_CHECKING:
    from monitor.config import Config

EXIT_USAGE = 2
#: stdout was closed before everything was written: what a shell reports for a command
#: that SIGPIPE killed (128 + 13), so `set -o pipefail` scripts see the usual value.
EXIT_CLOSED_PIPE = 141


def _config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", required=True, type=Path, help="the TOML config file")


def _log_args(p: argparse.ArgumentParser, *, level: str = "info") -> None:
    p.add_argument("--log-level", default=level, choices=["debug", "info", "warning", "error"])
    p.add_argument(
        "--log-format",
        default="auto",
        choices=["auto", "json", "console"],
        help="auto: console on a terminal, JSON lines otherwise",
    )


def _scope_args(p: argparse.ArgumentParser) -> None:
    scope = p.add_mutually_exclusive_group(required=True)
    scope.add_argument("--ad", metavar="ID")
    scope.add_argument("--campaign", metavar="ID")
    scope.add_argument("--account", metavar="ID")


def _scope(args: argparse.Namespace) -> tuple[str, str] | None:
    for scope in ("ad", "campaign", "account"):
        value = getattr(args, scope)
        if value is not None:
            if not value.isdigit():
                print(f"pinmon: --{scope}: {value!r} is not an id (digits only)", file=sys.stderr)
                return None
            return scope, value
    return None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="pinmon",
        description="Watch Pinterest ads; alert the moment one is rejected, paused or approved.",
    )
    parser.add_argument("--version", action="version", version=f"pinmon {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser("run", help="poll every interval until stopped (or --once)")
    _config_arg(run)
    run.add_argument("--once", action="store_true", help="one full cycle, then exit")
    _log_args(run)

    check = sub.add_parser("check", help="validate the config and the token; show what is watched")
    _config_arg(check)
    _log_args(check)

    demo = sub.add_parser("demo", help="the whole pipeline against the built-in simulator")
    demo.add_argument("--interval", type=float, default=1.0, help="seconds between cycles")
    _log_args(demo, level="warning")

    sim = sub.add_parser("simulate", help="serve the Pinterest API simulator on 127.0.0.1")
    sim.add_argument("--port", type=int, default=8765)
    sim.add_argument("--scenario", type=Path, help="a scenario file (default: the demo story)")
    _log_args(sim)

    dl = sub.add_parser("deliveries", help="list pending, failed and dead deliveries")
    _config_arg(dl)
    dl.add_argument("--all", action="store_true", help="include delivered ones")
    dl.add_argument("--json", action="store_true", help="one JSON object per line")

    rd = sub.add_parser("redeliver", help="queue deliveries again")
    _config_arg(rd)
    rd.add_argument("event_id", nargs="?", help="the event whose deliveries to queue again")
    rd.add_argument("--failed", action="store_true", help="every failed and dead delivery")

    mu = sub.add_parser("mute", help="silence an ad, campaign or account for a while")
    _config_arg(mu)
    _scope_args(mu)
    mu.add_argument("--for", dest="duration", required=True, help="e.g. 2h, 2d")
    mu.add_argument("--reason", help="shown in `pinmon mutes` and `pinmon status`")

    um = sub.add_parser("unmute", help="lift a mute")
    _config_arg(um)
    _scope_args(um)

    ms = sub.add_parser("mutes", help="the mutes in force")
    _config_arg(ms)

    nt = sub.add_parser("notify-test", help="send a sample event through each route's targets")
    _config_arg(nt)
    nt.add_argument("--route", help="only this route")

    st = sub.add_parser("status", help="accounts, ads by status, rejected ads, the outbox")
    _config_arg(st)
    st.add_argument("--json", action="store_true", help="the report as one JSON document")

    ev = sub.add_parser("events", help="the event history")
    _config_arg(ev)
    ev.add_argument("--since", help="e.g. 24h, 7d")
    ev.add_argument("--type", action="append", default=[], help="a type glob, e.g. ad.rejected")
    ev.add_argument("--json", action="store_true", help="one event JSON per line")
    ev.add_argument("--ad", metavar="ID", help="one ad's timeline, with its deliveries")

    rt = sub.add_parser("routes", help="the config's routes: test which an event reaches")
    rt_sub = rt.add_subparsers(dest="routes_command", metavar="ACTION", required=True)
    rtt = rt_sub.add_parser("test", help="trace an event through the routes; exit 0 if sent")
    _config_arg(rtt)
    rtt.add_argument("--type", dest="event_type", required=True, help="e.g. ad.rejected")
    rtt.add_argument("--ad", metavar="ID", help="an ad in the state (its account, campaign)")
    rtt.add_argument("--account", metavar="ID", help="a sample's ad account")
    rtt.add_argument("--campaign", metavar="ID", help="a sample's campaign")
    rtt.add_argument("--field", action="append", default=[], help="a field that changed")
    _log_args(rtt, level="warning")

    wb = sub.add_parser("web", help="serve the web board from the state (loopback by default)")
    _config_arg(wb)
    wb.add_argument("--listen", metavar="HOST:PORT", default="127.0.0.1:9465")
    _log_args(wb)
    # What these print is their report; logs stay quiet unless asked for.
    for quiet in (dl, rd, mu, um, ms, nt, st, ev):
        _log_args(quiet, level="warning")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (README, "Exit codes").

    Every failure an operator can cause — a bad config, a port in use, an unusable state
    store — ends here as one line on stderr and an exit code, never a traceback (a reader
    that closed the pipe early gets no line at all); only a bug still shows one.
    """
    try:
        code = _dispatch(argv)
        # Flushed here, inside the handler: a reader gone since the last write (`| head`)
        # must surface now, not as "Exception ignored" when the interpreter exits.
        sys.stdout.flush()
        return code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        return _failure(exc)


def _dispatch(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    from monitor import logs

    reader = args.command in _READERS and not (args.command == "events" and args.ad)
    if reader and args.log_level in ("warning", "error"):
        # Nothing on their path logs through structlog, whose import alone would be a
        # third of their run (issue #13); asked for more, they configure it as usual.
        logs.configure_plain(level=args.log_level)
    else:
        logs.configure(level=args.log_level, fmt=args.log_format)
    command: Callable[[argparse.Namespace], int] = _COMMANDS[args.command]
    return command(args)


def _failure(exc: Exception) -> int:
    """The exit code of a failed command, its reason printed as one line; bugs re-raise."""
    from monitor import logs
    from monitor.errors import ConfigError, MonitorError

    leaf: BaseException = exc
    if isinstance(exc, BaseExceptionGroup):
        # anyio wraps what a task raised; the closed pipe may surface in several tasks.
        if exc.split(BrokenPipeError)[1] is None:
            leaf = BrokenPipeError()
        elif len(exc.exceptions) == 1:
            leaf = exc.exceptions[0]
    if isinstance(leaf, BrokenPipeError):
        # Nothing to say: the reader wanted no more (`pinmon events | head -1`).
        _detach_stdout()
        return EXIT_CLOSED_PIPE
    if isinstance(leaf, ConfigError):
        for line in leaf.problems:
            print(f"pinmon: {logs.redact(line)}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(leaf, MonitorError):
        print(f"pinmon: {logs.redact(str(leaf))}", file=sys.stderr)
        return 1
    if isinstance(leaf, OSError):
        where = f": {leaf.filename}" if leaf.filename else ""
        reason = leaf.strerror or type(leaf).__name__
        print(f"pinmon: {logs.redact(f'{reason}{where}')}", file=sys.stderr)
        return 1
    raise exc


def _detach_stdout() -> None:
    """Point stdout at devnull so the interpreter's final flush cannot fail again.

    The standard recipe (Python docs, signal module, "Note on SIGPIPE"): what is still
    buffered has nowhere to go, and a second BrokenPipeError at exit would print.
    """
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (a test's capture): nothing is flushed to a pipe at exit
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _load(args: argparse.Namespace, *, sends: bool = True) -> Config:
    """The config; ``sends=False`` for commands that only read or write the state, which
    need not ask apprise about every target URL (see ``load_config``)."""
    from monitor.config import load_config

    return load_config(args.config, check_targets=sends)


def _run(args: argparse.Namespace) -> int:
    import anyio
    import structlog

    from monitor.daemon import run_forever, run_once
    from monitor.errors import ConfigError, ListenError

    config = _load(args)
    log = structlog.get_logger("monitor.cli")
    for warning in config.warnings:
        log.warning("config.warning", warning=warning)
    # What start-up made (modules, config, compiled patterns: ~10^5 objects) lives as
    # long as the process: out of the collector's sight, a full collection during a
    # cycle no longer walks it (measured: ~4% of a steady 200,000-ad cycle's CPU).
    gc.freeze()
    try:
        if args.once:
            return anyio.run(run_once, config)
        return anyio.run(run_forever, config)
    except ListenError as exc:
        # A port taken by another process is a problem of the `listen` setting.
        raise ConfigError([f"{config.path}: monitor.listen: {exc}"]) from exc


def _check(args: argparse.Namespace) -> int:
    import anyio

    from monitor.check import check

    return anyio.run(check, _load(args))


def _demo(args: argparse.Namespace) -> int:
    import anyio

    from monitor.demo import run_demo

    return anyio.run(lambda: run_demo(interval_s=args.interval))


def _simulate(args: argparse.Namespace) -> int:
    from monitor.health import bind_reason
    from monitor.simulator import run_standalone

    try:
        return run_standalone(args.port, args.scenario)
    except OSError as exc:
        if exc.errno not in _BIND_ERRNOS:
            raise
        reason = bind_reason(exc)
        print(f"pinmon: --port: cannot listen on 127.0.0.1:{args.port}: {reason}", file=sys.stderr)
        return EXIT_USAGE


# Why a bind fails: taken, not an address of this host, a privileged port.
_BIND_ERRNOS = frozenset({errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES})


def _deliveries(args: argparse.Namespace) -> int:
    from monitor.commands import show_deliveries

    return show_deliveries(_load(args, sends=False), everything=args.all, as_json=args.json)


def _redeliver(args: argparse.Namespace) -> int:
    import anyio

    from monitor.commands import redeliver

    if not args.event_id and not args.failed:
        print("pinmon: redeliver needs an EVENT_ID or --failed", file=sys.stderr)
        return EXIT_USAGE
    return anyio.run(
        lambda: redeliver(_load(args, sends=False), event_id=args.event_id, failed=args.failed)
    )


def _events(args: argparse.Namespace) -> int:
    from monitor.commands import show_events
    from monitor.config import parse_duration

    if args.ad is not None:
        return _timeline(args)

    try:
        since_s = parse_duration(args.since) if args.since else None
    except ValueError as exc:
        print(f"pinmon: --since: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return show_events(
        _load(args, sends=False), since_s=since_s, types=args.type, as_json=args.json
    )


def _timeline(args: argparse.Namespace) -> int:
    import anyio

    from monitor.timeline import show_timeline

    if not args.ad.isdigit():
        print(f"pinmon: --ad: {args.ad!r} is not an id (digits only)", file=sys.stderr)
        return EXIT_USAGE
    config = _load(args, sends=False)
    return anyio.run(lambda: show_timeline(config, ad_id=args.ad, as_json=args.json))


def _routes(args: argparse.Namespace) -> int:
    import anyio

    from monitor.routetest import routes_test

    for name in ("ad", "account", "campaign"):
        value = getattr(args, name)
        if value is not None and not value.isdigit():
            print(f"pinmon: --{name}: {value!r} is not an id (digits only)", file=sys.stderr)
            return EXIT_USAGE
    config = _load(args, sends=False)
    return anyio.run(
        lambda: routes_test(
            config,
            event_type=args.event_type,
            ad_id=args.ad,
            account_id=args.account,
            campaign_id=args.campaign,
            fields=args.field,
        )
    )


def _web(args: argparse.Namespace) -> int:
    import anyio

    from monitor.errors import ConfigError, ListenError
    from monitor.health import parse_listen
    from monitor.web.standalone import run_web

    try:
        host, port = parse_listen(args.listen)
    except ValueError as exc:
        print(f"pinmon: --listen: {exc}", file=sys.stderr)
        return EXIT_USAGE
    config = _load(args, sends=False)
    try:
        return anyio.run(lambda: run_web(config, host=host, port=port))
    except ListenError as exc:
        raise ConfigError([f"--listen: {exc}"]) from exc


def _mute(args: argparse.Namespace) -> int:
    import anyio

    from monitor.commands import mute
    from monitor.config import parse_duration

    scope = _scope(args)
    if scope is None:
        return EXIT_USAGE
    try:
        for_s = parse_duration(args.duration)
    except ValueError as exc:
        print(f"pinmon: --for: {exc}", file=sys.stderr)
        return EXIT_USAGE
    config = _load(args, sends=False)
    return anyio.run(
        lambda: mute(config, scope=scope[0], entity_id=scope[1], for_s=for_s, reason=args.reason)  # type: ignore[arg-type]
    )


def _unmute(args: argparse.Namespace) -> int:
    import anyio

    from monitor.commands import unmute

    scope = _scope(args)
    if scope is None:
        return EXIT_USAGE
    config = _load(args, sends=False)
    return anyio.run(lambda: unmute(config, scope=scope[0], entity_id=scope[1]))  # type: ignore[arg-type]


def _mutes(args: argparse.Namespace) -> int:
    from monitor.commands import show_mutes

    return show_mutes(_load(args, sends=False))


def _notify_test(args: argparse.Namespace) -> int:
    import anyio

    from monitor.notify_test import notify_test

    config = _load(args)
    return anyio.run(lambda: notify_test(config, route=args.route))


def _status(args: argparse.Namespace) -> int:
    from monitor.status import show_status

    return show_status(_load(args, sends=False), as_json=args.json)


#: The read-only commands: no event loop, no structlog (see ``store/direct.py``).
#: `events --ad` (an ad's timeline) is not one yet: it reads through the web board's
#: queries, on the async store.
_READERS: Final = frozenset({"status", "events", "deliveries", "mutes"})

_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "mute": _mute,
    "unmute": _unmute,
    "mutes": _mutes,
    "notify-test": _notify_test,
    "run": _run,
    "check": _check,
    "demo": _demo,
    "simulate": _simulate,
    "deliveries": _deliveries,
    "redeliver": _redeliver,
    "events": _events,
    "status": _status,
    "web": _web,
    "routes": _routes,
}
