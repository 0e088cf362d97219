"""Execute the book's notebooks with papermill: ``python -m metareweight.runbook --profile quick``.

Each jupytext MyST notebook ``notebooks/<name>.md`` is converted in memory, executed with its
parameters injected (``profile`` and any ``-p name value``) and written to the git-ignored
``notebooks/_run/<name>.ipynb`` through a temporary file, so a failed run never leaves a
half-written notebook where the book build would read it (the failed copy is kept as
``<name>.failed.ipynb`` for inspection).  It also writes ``book/_generated/data_banner.md``:
the shared stand-in banner when ``UTKFACE`` is unset, else an empty comment.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from .cache import atomic_write
from .profiles import PROFILES, ParameterError, check_type, profile_name
from .runconfig import run_tag
from .settings import CHAPTER_ENV, DATA_ENV, OVERRIDES_ENV, ROOT_ENV, data_path, repo_root, toc_pages


def toc_notebooks(root: Path) -> list[str]:
    """Names of the notebooks the table of contents lists, in order."""
    return [doc.removeprefix("notebooks/_run/") for doc in toc_pages(root / "_toc.yml")
            if doc.startswith("notebooks/_run/")]


def write_banner(root: Path) -> bool:
    """Write the include file every data page pulls in; True when it holds the stand-in banner."""
    standin = data_path() is None
    target = root / "book" / "_generated" / "data_banner.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    body = (root / "book" / "standin_banner.md").read_text() if standin else (
        "<!-- UTKFACE was set: this book ran on the real data. -->\n")
    tmp = target.with_suffix(".tmp")
    tmp.write_text(body)
    os.replace(tmp, target)
    return standin


def _literal(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a bare word is a string


def declared_parameters(root: Path, name: str) -> set[str]:
    """Names in the notebook's cell tagged ``parameters``."""
    import jupytext
    import papermill

    source = root / "notebooks" / f"{name}.md"
    if not source.exists():
        raise FileNotFoundError(f"{source}: notebook listed in _toc.yml does not exist")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.ipynb"
        jupytext.write(jupytext.read(source), path)
        return set(papermill.inspect_notebook(str(path)))


def check_parameters(params: dict, declared: dict[str, set[str]]) -> None:
    """Refuse, before anything runs, a parameter no notebook declares or of the wrong type."""
    known = set().union(*declared.values()) if declared else set()
    unknown = sorted(set(params) - known)
    if unknown:
        raise ParameterError(f"unknown parameter(s) {unknown}; the notebooks declare {sorted(known)}")
    for key, value in params.items():
        if key == "profile":
            raise ParameterError("give the profile with --profile, not -p profile")
        if key in PROFILES["paper"]:
            check_type(key, value, PROFILES["paper"][key])


REPORT = "report"  # shown after the intro, executed last: it reads every other chapter's records

EXPORT_CELL = """from metareweight import runconfig as _runconfig
_runconfig.export({path!r}, globals().get("cfg"))"""


def execution_order(names: list[str]) -> list[str]:
    """The toc order, with the report (which reads the other chapters' records) last."""
    return [n for n in names if n != REPORT] + [n for n in names if n == REPORT]


def params_overrides(params: dict, profile: str) -> dict:
    """The explicit parameters that differ from the profile's values."""
    base = PROFILES[profile]
    return {k: v for k, v in sorted(params.items()) if k not in base or base[k] != v}


def _kernel_manager_class():
    """A kernel manager on IPC sockets in a private folder: no 'running over TCP without
    encryption' warning, and nothing to eavesdrop on."""
    from jupyter_client.manager import KernelManager

    folder = tempfile.mkdtemp(prefix="metareweight-kernel-")

    class IPCKernelManager(KernelManager):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.transport = "ipc"
            self.ip = os.path.join(folder, "kernel")

    return IPCKernelManager


def execute(name: str, root: Path, profile: str, params: dict, log=print, out_dir: Path | None = None) -> Path:
    """Run one notebook with papermill (only the parameters it declares are injected).

    A hidden last cell exports the chapter's resolved settings and the settings it read; they
    are stored in the executed notebook's metadata under ``metareweight``.
    """
    import jupytext
    import nbformat
    import papermill

    source = root / "notebooks" / f"{name}.md"
    out_dir = Path(out_dir) if out_dir is not None else root / "notebooks" / "_run"
    out_dir.mkdir(parents=True, exist_ok=True)
    notebook = jupytext.read(source)
    with tempfile.TemporaryDirectory() as tmp:
        sidecar = Path(tmp) / "config.json"
        notebook.cells.append(nbformat.v4.new_code_cell(
            EXPORT_CELL.format(path=str(sidecar)), metadata={"tags": ["remove-cell"]}))
        src_ipynb = Path(tmp) / f"{name}.ipynb"
        jupytext.write(notebook, src_ipynb)
        declared = papermill.inspect_notebook(str(src_ipynb))
        params = {k: v for k, v in params.items() if k in declared}
        target = out_dir / f"{name}.ipynb"
        partial = out_dir / f".{name}.partial.ipynb"
        started = time.perf_counter()
        os.environ[CHAPTER_ENV] = name
        log(f"> {name} ({', '.join(f'{k}={v}' for k, v in params.items()) or 'profile defaults'})")
        try:
            papermill.execute_notebook(
                str(src_ipynb), str(partial), parameters={"profile": profile, **params},
                cwd=str(out_dir), kernel_name="python3", progress_bar=False, log_output=False,
                kernel_manager_class=_kernel_manager_class(),
                # progress lines go to the terminal only: the kernel does not copy its process's
                # own stderr into the notebook
                extra_arguments=["--IPKernelApp.capture_fd_output=False"],
            )
        except Exception:
            os.replace(partial, out_dir / f"{name}.failed.ipynb") if partial.exists() else None
            raise
        finally:
            os.environ.pop(CHAPTER_ENV, None)
        executed = nbformat.read(partial, as_version=4)
        exported = json.loads(sidecar.read_text())
        executed.metadata["metareweight"] = {**exported, "declared": sorted(set(declared) - {"profile"}),
                                             # this execution's wall time (cache hits included)
                                             "wall_seconds": round(time.perf_counter() - started, 1)}
        for cell in executed.cells:  # the parameters (declared and injected) leave the page: the
            tags = cell.metadata.setdefault("tags", [])  # settings box shows every value read
            if ("parameters" in tags or "injected-parameters" in tags) and "remove-cell" not in tags:
                cell.metadata["tags"] = [t for t in tags if t != "hide-cell"] + ["remove-cell"]
        atomic_write(partial, lambda tmp_path: nbformat.write(executed, tmp_path))
        os.replace(partial, target)
        log(f"  {name}: {time.perf_counter() - started:.0f} s")
    return target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default=None, help=f"one of {sorted(PROFILES)}")
    parser.add_argument("--only", action="append", default=[], help="run only this notebook")
    parser.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="a notebook parameter (a Python literal); it reaches every chapter that uses it")
    parser.add_argument("--run-dir", default=None,
                        help="where the executed notebooks go (default notebooks/_run, which the book builds from)")
    args = parser.parse_args(argv)
    try:
        profile = profile_name(args.profile)
        params = {k: _literal(v) for k, v in args.p}
        root = repo_root()
        os.environ[ROOT_ENV] = str(root)
        if data_path():  # the kernels run in notebooks/_run
            os.environ[DATA_ENV] = str(Path(data_path()).expanduser().resolve())
        names = toc_notebooks(root)
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            raise ParameterError(f"--only {unknown}: not in _toc.yml ({names})")
        names = [n for n in names if not args.only or n in args.only]
        check_parameters(params, {n: declared_parameters(root, n) for n in names})
        run_dir = Path(args.run_dir).resolve() if args.run_dir else root / "notebooks" / "_run"
        for stale in run_dir.glob("*.failed.ipynb"):
            stale.unlink()
        standin = write_banner(root)
        overrides = params_overrides(params, profile)
        os.environ[OVERRIDES_ENV] = json.dumps(overrides, sort_keys=True)
        folder = root / "results" / run_tag(profile, overrides)
        print(f"profile {profile}; data: {'stand-in (UTKFACE unset)' if standin else data_path()}")
        print(f"records: {folder.relative_to(root)}/" + (" (overrides: " + ", ".join(
            f"{k}={v}" for k, v in overrides.items()) + ")" if overrides else " (the profile's defaults)"),
            flush=True)
        for name in execution_order(names):
            execute(name, root, profile, params, log=lambda m: print(m, flush=True), out_dir=run_dir)
    except (ParameterError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
