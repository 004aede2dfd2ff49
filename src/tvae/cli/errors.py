"""How the command line reports problems: one line on stderr, never a traceback.

User errors (our ``TVAEError``s, ``ValueError``/``TypeError``, file errors) become
``error: ...`` and exit code 1; usage errors (a missing option, a bad number) become one line and
exit code 2; warnings become ``warning: ...``. ``tvae --debug ...`` lets the traceback through.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from tvae.errors import TVAEError

ERROR_DIR_ENV = "TVAE_WORKER_ERRORS"  # folder where launched workers leave their error message
USER_ERRORS = (TVAEError, ValueError, TypeError, OSError, ImportError, MemoryError)
# typer vendors click in recent versions and imports it in older ones: find its base error.
_CLICK_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


class ErrorReportingGroup(TyperGroup):
    """Turns user errors and usage errors into one line on stderr (``--debug``: traceback)."""

    def invoke(self, ctx: Any) -> Any:
        debug = bool(ctx.params.get("debug"))
        try:
            with warnings.catch_warnings():
                warnings.showwarning = _show_warning
                return super().invoke(ctx)
        except USER_ERRORS as error:
            if debug:
                raise
            if not _left_for_launcher(_one_line(error)):
                typer.echo(f"error: {_one_line(error)}", err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            if debug:
                raise
            typer.echo("error: interrupted", err=True)
            raise typer.Exit(130) from None

    def main(
        self,
        args: Any = None,
        prog_name: Any = None,
        complete_var: Any = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _CLICK_ERROR as error:
            if not standalone_mode:
                raise
            if type(error).__name__ == "NoArgsIsHelpError":  # bare `tvae`: show the help
                typer.echo(error.format_message())
                sys.exit(error.exit_code)
            context = getattr(error, "ctx", None)
            hint = f" (see '{context.command_path} --help')" if context is not None else ""
            typer.echo(f"error: {_one_line(error.format_message())}{hint}", err=True)
            sys.exit(error.exit_code)
        except typer.Abort:
            if not standalone_mode:
                raise
            typer.echo("error: aborted", err=True)
            sys.exit(1)
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)


def _one_line(error: BaseException | str) -> str:
    text = str(error).strip()
    if isinstance(error, OSError) and error.filename and str(error.filename) not in text:
        text = f"{error.strerror or text}: {str(error.filename)!r}"
    if not text:
        text = type(error).__name__
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    typer.echo(f"warning: {_one_line(str(message))}", err=True)


def _left_for_launcher(message: str) -> bool:
    """In a worker of ``tvae fit --nproc N``: leave ``message`` in the launcher's folder (it
    reports it once for all workers) and say True; elsewhere False."""
    folder = os.environ.get(ERROR_DIR_ENV)
    if not folder or not Path(folder).is_dir():
        return False
    rank = int(os.environ.get("RANK", 0))
    (Path(folder) / f"rank-{rank:05d}").write_text(message, encoding="utf-8")
    return True
