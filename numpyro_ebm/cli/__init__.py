"""Command line: ``numpyro-ebm demo | train | evaluate | sample | compare``.

One module a command (``numpyro_ebm.cli.demo``, ``.train``, ``.evaluate``,
``.sample``, ``.compare``), each with ``add_parser``, ``validate`` (argument checks
that need no data, reported with ``parser.error``) and ``run``.

Exit status: 0 on success, 2 on bad usage (argparse's ``parser.error``), 1 on a
failed run (a bad file, a shape that does not fit the model, non-finite training),
130 when ``train`` is interrupted with Ctrl-C (its last checkpoint is kept and
``--resume`` continues from it). Errors are one line on stderr; ``--debug`` shows
the traceback instead.
"""

from __future__ import annotations

import argparse
import sys

from numpyro_ebm.cli import compare, demo, evaluate, sample, train
from numpyro_ebm.cli._common import (
    CommandError,
    CommandParser,
    HelpFormatter,
    as_flags,
    common_parent,
    plain_text,
    warnings_as_lines,
)
from numpyro_ebm.cli.demo import run_demo

__all__ = ["main", "build_parser", "run_demo", "CommandError"]

COMMANDS = {
    "demo": demo,
    "train": train,
    "evaluate": evaluate,
    "sample": sample,
    "compare": compare,
}

EXAMPLES = """examples:
  numpyro-ebm demo
  numpyro-ebm train --data digits --hidden 32 --rule pcd --epochs 20 --output run1
  numpyro-ebm evaluate run1/checkpoint --data digits --method exact
  numpyro-ebm sample run1/checkpoint --n-samples 64 --sweeps 1000 --output samples1
  numpyro-ebm compare --target bernoulli-rbm --output compare1

'numpyro-ebm COMMAND --help' shows each command's options and more examples.
"""


def build_parser() -> argparse.ArgumentParser:
    """The ``numpyro-ebm`` parser with one sub-parser a command."""
    parser = CommandParser(
        prog="numpyro-ebm",
        description="Energy-based models and RBMs: train, evaluate, sample and compare samplers.",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
    )
    subparsers = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=CommandParser
    )
    parents = [common_parent()]
    for module in COMMANDS.values():
        command_parser = module.add_parser(subparsers, parents)
        # the module docstrings are reST (for the API pages); --help shows plain text
        command_parser.description = plain_text(command_parser.description)
        command_parser.formatter_class = HelpFormatter
        # each command reports bad usage with its own parser (its usage line, exit 2)
        command_parser.set_defaults(command_parser=command_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``numpyro-ebm`` with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    module = COMMANDS[args.command]
    module.validate(args, args.command_parser)
    try:
        with warnings_as_lines(args.command):
            return module.run(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"numpyro-ebm {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one line for the user; --debug for the traceback
        if args.debug:
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        message = as_flags(message)
        if not isinstance(exc, CommandError | ValueError | TypeError | OSError):
            message = f"{type(exc).__name__}: {message}"
        print(
            f"numpyro-ebm {args.command}: error: {message} (--debug shows the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
