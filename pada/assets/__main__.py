"""``python -m pada.assets``: list, fetch and verify the offline assets.

    python -m pada.assets list
    python -m pada.assets fetch [NAMES...] [--all] [--force]
    python -m pada.assets verify [NAMES...] [--full]
    python -m pada.assets path NAME

Progress goes to stderr, results to stdout. Errors are one paragraph on stderr and exit code 1.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from pada.assets.errors import AssetError
from pada.assets.registry import DEFAULT_ASSETS
from pada.assets.store import MISSING, READY, Store
from pada.errors import PadaError


class _StderrHandler(logging.StreamHandler):
    """A stream handler that writes to whatever ``sys.stderr`` is now (it may be replaced)."""

    @property
    def stream(self):  # noqa: D102
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def _human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = [
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]]) for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines)


def cmd_list(store: Store, _args: argparse.Namespace) -> int:
    """Print every registered asset with its kind, size, state and path."""
    rows = [["NAME", "KIND", "SIZE", "STATE", "PATH"]]
    for name, asset in store.assets.items():
        state = store.status(name)
        marker = store.read_marker(name) if state == READY else None
        size = sum(f["size"] for f in marker["files"].values()) if marker else asset.size
        label = f"{name} *" if asset.default else name
        rows.append([label, asset.kind, _human(size), state, str(store.payload_path(name))])
    print(_table(rows))
    print(f"\ncache: {store.root}   (* = fetched by `python -m pada.assets fetch` without names)")
    return 0


def cmd_fetch(store: Store, args: argparse.Namespace) -> int:
    """Fetch the named assets (default set without names; every asset with --all)."""
    names = list(store.assets) if args.all else (args.names or list(DEFAULT_ASSETS))
    for name in names:
        store.asset(name)  # reject a typo before downloading anything
    started = time.monotonic()
    for name in names:
        path = store.fetch(name, force=args.force)
        print(f"{name}\t{path}")
    logging.getLogger("pada.assets").info(
        "%d asset(s) ready in %.1f s (cache: %s)", len(names), time.monotonic() - started, store.root
    )
    return 0


def cmd_verify(store: Store, args: argparse.Namespace) -> int:
    """Verify assets in the cache; names given must be present, others are skipped when missing."""
    names = args.names or list(store.assets)
    for name in names:
        store.asset(name)
    bad = []
    for name in names:
        if not args.names and store.status(name) == MISSING:
            print(f"{name}\t{MISSING}")
            continue
        check = store.verify(name, full=args.full)
        print(f"{name}\t{check.state}" + (f"\t{check.reason}" if check.reason else ""))
        if check.state != READY:
            bad.append(f"{name} ({check.state}: {check.reason})")
    if bad:
        raise AssetError(
            f"{len(bad)} asset(s) failed verification: {'; '.join(bad)}. "
            "Run `python -m pada.assets fetch NAME` to fetch them again."
        )
    return 0


def cmd_path(store: Store, args: argparse.Namespace) -> int:
    """Print the path of a ready asset (fetching it with --fetch)."""
    print(store.asset_path(args.name, fetch=args.fetch))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of ``python -m pada.assets``."""
    parser = argparse.ArgumentParser(
        prog="python -m pada.assets", description="Manage pada's offline assets."
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print warnings only, no progress")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list assets with their state and path").set_defaults(func=cmd_list)
    p_fetch = sub.add_parser("fetch", help="fetch assets (default: " + ", ".join(DEFAULT_ASSETS) + ")")
    p_fetch.add_argument("names", nargs="*", help="asset names")
    p_fetch.add_argument("--all", action="store_true", help="fetch every registered asset")
    p_fetch.add_argument("--force", action="store_true", help="fetch again even when ready")
    p_fetch.set_defaults(func=cmd_fetch)
    p_verify = sub.add_parser("verify", help="verify assets in the cache")
    p_verify.add_argument("names", nargs="*", help="asset names (default: all that are present)")
    p_verify.add_argument("--full", action="store_true", help="re-hash every file")
    p_verify.set_defaults(func=cmd_verify)
    p_path = sub.add_parser("path", help="print an asset's path")
    p_path.add_argument("name")
    p_path.add_argument("--fetch", action="store_true", help="fetch it when it is not ready")
    p_path.set_defaults(func=cmd_path)
    return parser


def main(argv: list[str] | None = None, store: Store | None = None) -> int:
    """Run the CLI.

    Args:
        argv: arguments without the program name; defaults to ``sys.argv[1:]``.
        store: the store to act on; defaults to the one at :func:`pada.assets.cache_dir`.

    Returns:
        The exit code: 0 on success, 1 on an asset error, 130 when interrupted.
    """
    args = build_parser().parse_args(argv)
    logger = logging.getLogger("pada.assets")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("pada.assets: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.WARNING if args.quiet else logging.INFO)
    try:
        return args.func(store or Store(), args)
    except PadaError as err:
        print(f"pada.assets: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "pada.assets: interrupted; a partial fetch is never trusted and is redone next time.",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
