"""``airlock``: the command line (the wiring of ``up`` is :mod:`gateway.cli.compose`).

Commands that talk to a running gateway read ``AIRLOCK_URL`` and ``AIRLOCK_TOKEN``; commands that
administer the store (``db upgrade``, ``token create``, ``audit verify|export``) read the
configuration (``--config``, default ``./airlock.toml``) and open the store directly.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from gateway.cli import access as cli_access
from gateway.cli import audit as cli_audit
from gateway.cli import identity as cli_identity
from gateway.cli import reviews as cli_reviews
from gateway.cli import sessions as cli_sessions
from gateway.cli import ssh as cli_ssh
from gateway.cli import tokens as cli_tokens
from gateway.cli.client import ClientError
from gateway.cli.names import IDENTITY_KINDS, JOB_NAMES
from gateway.errors import GatewayError

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.runtime import Runtime, Shutdown

# What a command imports is its own business (below, in each command): `airlock --help` and the
# commands that talk to a gateway over HTTP start without the store, the API or the runtime
# (docs/benchmarks.md, "Approvals and the command line").

__all__ = ["main"]


def _settings(args: argparse.Namespace) -> Settings:
    from gateway.config import load_settings  # noqa: PLC0415  (lazy: see the imports)

    return load_settings(args.config)


def _run(coro_factory: Callable[[], object]) -> None:
    import asyncio  # noqa: PLC0415

    try:
        import uvloop  # noqa: PLC0415  (optional speed-up, only where installed)
    except ImportError:
        asyncio.run(coro_factory())  # type: ignore[arg-type]
    else:
        uvloop.run(coro_factory())  # type: ignore[arg-type]


@contextlib.contextmanager
def _steady_heap() -> Iterator[None]:
    """While serving: what start-up built (modules, parsers, the ORM's metadata) is moved out of
    the cyclic garbage collector's way, and young objects are collected every 10,000 allocations
    instead of 700. A relayed statement allocates tens of short-lived objects; with the defaults
    the collector's passes cost ~10% of the gateway's throughput (pgbench, 8 clients)."""
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def cmd_up(args: argparse.Namespace, mode: str) -> int:
    """``airlock up`` / ``gateway`` / ``bot``: serve until SIGTERM/SIGINT, then stop within
    ``[gateway] shutdown_timeout``; exit 0, or EXIT_UNRECORDED (75) when something could not be
    written before the deadline (docs/operations.md, "Shutdown has a deadline")."""
    return _up(_settings(args), mode)


Welcome = Callable[["Runtime"], None]  # what the demo prints once its runtime is open


def _up(
    settings: Settings,
    mode: str,
    prepare: Callable[[], Awaitable[Welcome]] | None = None,
    stopped: Callable[[], None] | None = None,
) -> int:
    """Serve ``mode``'s parts (``airlock up`` / ``gateway`` / ``bot``, and the demo), with the
    audit checkpoints and the shutdown's deadline; ``prepare`` runs first, in the loop (the
    demo seeds its database), and what it returns is called with the open runtime; ``stopped``
    runs once everything is closed, before the process exits (the demo stops its sshd)."""
    import asyncio  # noqa: PLC0415

    from gateway.anchoring import anchoring  # noqa: PLC0415
    from gateway.cli.compose import services_for  # noqa: PLC0415
    from gateway.runtime import open_runtime, say, serve  # noqa: PLC0415

    shutdown: list[Shutdown] = []

    async def run() -> None:
        welcome = await prepare() if prepare is not None else None
        async with open_runtime(settings) as runtime:
            if welcome is not None:
                welcome(runtime)
            runtime.shutdown.hard_exit = True  # at the deadline the process goes, wherever it is
            shutdown.append(runtime.shutdown)
            limit = asyncio.timeout(None)  # the backstop: set when the shutdown begins
            runtime.shutdown.bound(limit)
            try:
                async with limit, anchoring(settings, runtime.database):
                    say(f"airlock: store {_redact(settings.store.url)}")
                    with _steady_heap():
                        await serve(runtime, services_for(mode, runtime))
            except TimeoutError:
                if not limit.expired():
                    raise
                runtime.shutdown.problem("the shutdown's steps did not finish by the deadline")
            await _cancel_stragglers(runtime.shutdown)

    try:
        _run(run)
    finally:
        for stopping in shutdown:
            stopping.disarm()
        if stopped is not None:
            stopped()
    if not shutdown or not shutdown[0].begun:
        return 0
    _exit_now(_stopped(shutdown[0]))


async def _cancel_stragglers(shutdown: Shutdown) -> None:
    """Cancel what the stopped parts left running (a held review's cancel still waiting for a
    locked store, say) before the store closes under it: the process is ending."""
    import asyncio  # noqa: PLC0415

    current = asyncio.current_task()
    left = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
    for task in left:
        task.cancel()
    if left:
        await asyncio.wait(left, timeout=shutdown.left())


def _exit_now(code: int) -> NoReturn:
    """Exit once everything is closed (the store, the journal synced, the sockets): without the
    interpreter's teardown of every module, which takes up to seconds of a deadline on a busy
    machine and writes nothing."""
    import logging  # noqa: PLC0415

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _stopped(shutdown: Shutdown) -> int:
    """The shutdown's last word: nothing when it was clean, else what was left and the exit."""
    code = shutdown.exit_code()
    if code:
        print(
            f"airlock: stopped after {shutdown.elapsed():.1f}s with work left undone "
            f"(exit {code}): {'; '.join(shutdown.problems)}",
            file=sys.stderr,
            flush=True,
        )
    return code


def cmd_demo(args: argparse.Namespace) -> int:
    """Seed the demo database, write demo/airlock.toml, print how to try it, run `up`."""
    import aiomysql  # noqa: PLC0415  (only the demo seeds MariaDB)
    import asyncpg  # noqa: PLC0415

    from gateway.cli.demo import (  # noqa: PLC0415
        demo_settings,
        maria_answers,
        print_welcome,
        seed_demo,
    )
    from gateway.cli.demo_sshd import demo_sshd  # noqa: PLC0415
    from gateway.errors import ConfigError  # noqa: PLC0415
    from gateway.runtime import say  # noqa: PLC0415

    workdir = Path(args.dir)
    mysql = maria_answers()  # without MariaDB the demo serves PostgreSQL alone, and says so
    if not mysql:
        say("airlock demo: no MariaDB at 127.0.0.1:3306; the mysql-demo connection is left out")
    sshd = demo_sshd(workdir / "ssh", say)  # None: the demo says why and serves the rest
    try:
        settings = demo_settings(workdir, mysql, sshd)
    except BaseException:
        if sshd is not None:
            sshd.stop()
        raise

    async def prepare() -> Welcome:
        try:
            await seed_demo(mysql)
        except (OSError, asyncpg.PostgresError, aiomysql.Error) as exc:
            raise ConfigError(
                f"the demo needs the local PostgreSQL at 127.0.0.1:5432 and, when it answers, "
                f"MariaDB at 127.0.0.1:3306 ({exc}); start them (see .ci/run) and try again"
            ) from exc
        return lambda runtime: print_welcome(settings, runtime.tokens)

    stop = sshd.stop if sshd is not None else None
    return _up(settings, "up", prepare, stop)  # the demo is `airlock up`: checkpoints, deadline


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    import asyncio  # noqa: PLC0415

    from gateway.runtime import say  # noqa: PLC0415
    from store import migrate  # noqa: PLC0415

    settings = _settings(args)
    asyncio.run(migrate.upgrade(settings.store.url))
    say(f"airlock: store {_redact(settings.store.url)} is at the latest schema")
    return 0


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        creds, _, host = rest.rpartition("@")
        user = creds.split(":", 1)[0]
        rest = f"{user}:***@{host}" if ":" in creds else f"{user}@{host}"
    return f"{scheme}{sep}{rest}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="airlock", description="Airlock access gateway")
    parser.add_argument("--config", help="configuration file (default ./airlock.toml)")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="everything in one process")
    up.add_argument("--config", dest="config", default=argparse.SUPPRESS)
    up.set_defaults(func=lambda a: cmd_up(a, "up"))
    gw = sub.add_parser("gateway", help="the HTTP API and the listeners only")
    gw.add_argument("--config", dest="config", default=argparse.SUPPRESS)
    gw.set_defaults(func=lambda a: cmd_up(a, "gateway"))
    bot = sub.add_parser("bot", help="the chat bot alone (talks to the gateway at AIRLOCK_URL)")
    bot.add_argument("--config", dest="config", default=argparse.SUPPRESS)
    bot.set_defaults(func=lambda a: cmd_up(a, "bot"))

    demo = sub.add_parser("demo", help="seed a demo database and run everything on it")
    demo.add_argument("--dir", default="demo", help="where the demo config and store go")
    demo.set_defaults(func=cmd_demo)

    db = sub.add_parser("db", help="the store").add_subparsers(dest="db", required=True)
    upgrade = db.add_parser("upgrade", help="apply migrations")
    upgrade.add_argument("--config", dest="config", default=argparse.SUPPRESS)
    upgrade.set_defaults(func=cmd_db_upgrade)

    token = sub.add_parser("token", help="gateway tokens").add_subparsers(
        dest="token", required=True
    )
    create = token.add_parser("create", help="mint a gateway token (admin, dev, CI)")
    create.add_argument("--config", dest="config", default=argparse.SUPPRESS)
    create.add_argument("--subject", required=True)
    create.add_argument("--groups", default="", help="comma-separated")
    create.add_argument("--ttl", default="8h")
    create.add_argument("--email")
    create.add_argument("--kind", choices=IDENTITY_KINDS, default="person")
    create.set_defaults(func=cli_tokens.cmd_token_create)

    sched = sub.add_parser("scheduler", help="the scheduler alone (expiry, reminders, digests)")
    sched.add_argument("--config", dest="config", default=argparse.SUPPRESS)
    sched.set_defaults(func=cmd_scheduler)
    run = sched.add_subparsers(dest="scheduler").add_parser("run", help="run one job now")
    run.add_argument("job", choices=JOB_NAMES)
    run.add_argument("--config", dest="config", default=argparse.SUPPRESS)
    run.set_defaults(func=cmd_scheduler_run)

    cli_reviews.add_commands(sub)
    cli_identity.add_commands(sub)
    cli_audit.add_commands(sub)
    cli_sessions.add_commands(sub)
    cli_access.add_commands(sub)
    cli_ssh.add_commands(sub)
    return parser


def cmd_scheduler(args: argparse.Namespace) -> int:
    """``airlock scheduler``: run the jobs on their schedule until SIGINT/SIGTERM."""
    import asyncio  # noqa: PLC0415
    import signal  # noqa: PLC0415

    from gateway.anchoring import anchoring  # noqa: PLC0415
    from gateway.cli.compose import scheduler_for  # noqa: PLC0415
    from gateway.runtime import open_runtime, say  # noqa: PLC0415

    settings = _settings(args)

    async def run() -> None:
        async with open_runtime(settings) as runtime, anchoring(settings, runtime.database):
            say(f"airlock: store {_redact(settings.store.url)}")
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await scheduler_for(runtime).run(stop)
            say("airlock: stopped")

    _run(run)
    return 0


def cmd_scheduler_run(args: argparse.Namespace) -> int:
    """``airlock scheduler run JOB``: run one job now (under the same lock as the schedule)."""
    import asyncio  # noqa: PLC0415

    from gateway.cli.compose import scheduler_for  # noqa: PLC0415
    from gateway.runtime import open_runtime, say  # noqa: PLC0415

    settings = _settings(args)

    async def run() -> int:
        async with open_runtime(settings) as runtime:
            done = await scheduler_for(runtime).run_job(args.job)
        if not done.ran:
            say(f"airlock: {args.job}: {done.summary}")
            return 1
        say(f"airlock: {args.job}: {done.summary} ({done.seconds:.2f}s)")
        return 0

    return asyncio.run(run())


def _reported() -> tuple[type[Exception], ...]:
    """The errors printed as ``airlock: <message>`` (exit 2). The store's is among them only once
    a command imported the store's errors: before that none can be raised."""
    errors = sys.modules.get("store.errors")
    kinds: tuple[type[Exception], ...] = (GatewayError, ClientError)
    return (*kinds, errors.StoreError) if errors is not None else kinds


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not hasattr(args, "config"):
        args.config = None
    args.config = args.config or os.environ.get("AIRLOCK_CONFIG")
    try:
        code: int = args.func(args)
    except _reported() as exc:
        print(f"airlock: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
