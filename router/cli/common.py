"""Helpers every `westward` subcommand shares: loading the topology, JSON out, progress."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from router.errors import FieldProblem, InvalidInputError

if TYPE_CHECKING:
    from router.client import RouterClient
    from router.model.topology import Topology

TOKEN_ENV = "WESTWARD_TOKEN"


def topology_from(path: str | None) -> Topology:
    """The topology at `path`, or the embedded default."""
    from router.model.topology import default_topology, load_topology

    return load_topology(path) if path else default_topology()


def print_json(data: object) -> None:
    """JSON for scripts, on stdout: indented on a terminal, compact otherwise (Python's
    C encoder only writes compact JSON: a 10,000-job plan takes 0.1 s instead of 1.2 s)."""
    indent = 2 if sys.stdout.isatty() else None
    sys.stdout.write(json.dumps(data, indent=indent, ensure_ascii=False))
    sys.stdout.write("\n")


@contextmanager
def working(message: str) -> Iterator[None]:
    """A spinner with the time elapsed while long work runs, for people watching a
    terminal; silent in pipes and CI."""
    if not sys.stderr.isatty():
        yield
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as spinner:
        spinner.add_task(message, total=None)
        yield


@contextmanager
def steps(total: int) -> Iterator[Callable[[str], None] | None]:
    """A progress bar over `total` steps on a terminal: the callback names the step it
    starts. None (no progress) in pipes and CI."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("", total=total)
        started = 0

        def step(name: str) -> None:
            nonlocal started
            if started:
                bar.advance(task)
            started += 1
            bar.update(task, description=name)

        yield step


def add_topology_option(parser: argparse.ArgumentParser) -> None:
    """The common `--topology F` option."""
    parser.add_argument(
        "--topology", metavar="F", help="topology YAML (default: the embedded china-edwc)"
    )


def writable_output(path: str) -> Path:
    """`path` as a Path, after checking its directory exists (before any long work)."""
    out = Path(path)
    if not out.parent.is_dir():
        raise InvalidInputError(
            [FieldProblem("", f"cannot write file: no directory {str(out.parent)!r}", path)]
        )
    return out


def positive_int(text: str) -> int:
    """argparse type: a whole number > 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a whole number > 0, got {text}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a number > 0."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
    return value


def at_least(minimum: float) -> Callable[[str], float]:
    """argparse type: a number >= `minimum`."""

    def parse(text: str) -> float:
        value = _number(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be a number >= {minimum:g}, got {text}")
        return value

    return parse


non_negative_float = at_least(0.0)


def add_time_limit_option(
    parser: argparse.ArgumentParser, per: str = "", default: float = 10.0
) -> None:
    """The common `--time-limit S` option of commands that plan (default 10 s)."""
    parser.add_argument(
        "--time-limit",
        type=positive_float,
        default=default,
        metavar="S",
        help=f"solver time limit{per} in seconds; it stops sooner when it proves the plan "
        f"optimal (default {default:g})",
    )


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def add_server_options(
    parser: argparse.ArgumentParser, help: str, *, required: bool = False
) -> None:
    """`--server ADDR` and the credentials every --server command takes (docs/security.md)."""
    parser.add_argument("--server", required=required, metavar="ADDR", help=help)
    parser.add_argument(
        "--token-file", metavar="F", help=f"bearer token for --server (default: ${TOKEN_ENV})"
    )
    parser.add_argument("--ca", metavar="F", help="speak TLS to --server, trusting this CA (PEM)")
    parser.add_argument("--cert", metavar="F", help="client certificate (PEM) for mTLS")
    parser.add_argument("--key", metavar="F", help="client private key (PEM) for mTLS")


def connect(args: argparse.Namespace) -> RouterClient:
    """A client for `--server` with the credentials of the options (or $WESTWARD_TOKEN):
    the one place every `--server` command connects."""
    from router.client import RouterClient
    from router.service.credentials import ClientTls

    if (args.cert is None) != (args.key is None):
        raise InvalidInputError([FieldProblem("--cert", "needs --key, and the other way")])
    tls = ClientTls(args.ca, args.cert, args.key) if args.ca or args.cert else False
    return RouterClient(args.server, token=_token(args.token_file), tls=tls)


def _token(path: str | None) -> str | None:
    if path is None:
        return os.environ.get(TOKEN_ENV) or None
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(
            [FieldProblem("--token-file", f"cannot read {path}: {exc}")]
        ) from None
    if not token:
        raise InvalidInputError([FieldProblem("--token-file", f"{path} holds no token")])
    return token
