"""Benchmarks: ``python -m metareweight.bench`` (``make bench``) -> ``results/bench.json``.

Every speed is a ratio of two implementations timed side by side in this process (best of
several repeats, interleaved), with the raw seconds behind it.  Nothing here is asserted by the
tests; the goals are recorded beside the measurements.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from .alignment import alignment_scores, valid_gradient
from .cache import write_json
from .extractor import to_tensor, train_extractor
from .meta import MetaSettings, train_weights
from .models import Extractor, WeightNet
from .records import replace_block
from .ridge import ridge_solve
from .runbook import toc_notebooks
from .settings import CACHE_ENV, environment, jobs, repo_root
from .solver import FixedDesign, ridge_solve_in_weights, torch_threads

GOALS = {
    "alignment_speedup": ">= 3",
    "meta_step_speedup": ">= 3",
    "meta_step_rel_error": "<= 1e-6",
    "epoch_overhead_ratio": "<= 1.1",
    "quick_book_seconds": "<= 600",
    "warm_over_cold": "<= 0.05",
    "paper_cold_seconds": "<= 5400",
    "jobs2_speedup": ">= 1",
}


def meets(goal: str, value: float) -> bool:
    """Whether ``value`` meets a goal written as ``">= 3"`` or ``"<= 1.1"``."""
    op, _, bound = goal.partition(" ")
    if op not in (">=", "<="):
        raise ValueError(f"goal {goal!r}: expected '>= x' or '<= x'")
    return value >= float(bound) if op == ">=" else value <= float(bound)


BENCH_START, BENCH_END = "<!-- bench:start -->", "<!-- bench:end -->"
RAW = {  # the raw measurements behind each key, as "name: seconds" pairs
    "alignment_speedup": "alignment_seconds", "meta_step_speedup": "meta_step_seconds",
    "epoch_overhead_ratio": "epoch_seconds", "jobs2_speedup": "jobs_seconds",
}


def timings_block(result: dict) -> str:
    """The README's benchmark table, generated from ``results/bench.json``."""
    machine = result["machine"]
    lines = [BENCH_START, "",
             f"From `results/bench.json` ({machine['cpus']} CPU cores, "
             f"{'CUDA' if machine['cuda'] else 'no GPU'}; written by `make bench`):", "",
             "| key | ours | goal | met | raw measurements |", "| --- | --- | --- | --- | --- |"]
    for key, goal in result["goals"].items():
        if key not in result:
            lines.append(f"| `{key}` | not measured | {goal} | **no** | |")
            continue
        value = result[key]
        raw = ", ".join(f"{k} {v:.3f} s" for k, v in result.get(RAW.get(key, ""), {}).items())
        if key == "meta_step_speedup" and "meta_step_speedup_exact" in result:
            raw += f"; exact path {result['meta_step_speedup_exact']:.3g}x the authors'"
        if key == "meta_step_rel_error":
            raw = f"authors' float32 inverse: {result['meta_step_authors_rel_error']:.1e}"
            if "meta_step_rel_error_exact" in result:
                raw = f"exact path: {result['meta_step_rel_error_exact']:.1e}; {raw}"
        if key == "warm_over_cold":
            raw = f"warm {result['paper_warm_seconds']:.0f} s / cold {result['paper_cold_seconds']:.0f} s"
        if key == "quick_book_seconds" and "quick_book_warm_seconds" in result:
            raw = f"warm rebuild {result['quick_book_warm_seconds']:.0f} s"
        shown = f"{value:.1e}" if key == "meta_step_rel_error" else f"{value:.0f}" if value >= 100 else f"{value:.3g}"
        lines.append(f"| `{key}` | {shown} | {goal} | {'yes' if meets(goal, value) else '**no**'} | {raw} |")
    lines += ["", cold_book_sentence(result), "", BENCH_END]
    return "\n".join(lines)


def cold_book_sentence(result: dict, shown_from: float = 60.0) -> str:
    """Where the time of a cold paper book goes, chapter by chapter (those of ``shown_from``
    seconds or more by name), from ``paper_cold_chapters``."""
    chapters = result.get("paper_cold_chapters")
    if not chapters:
        return ("A cold paper book has not been timed chapter by chapter with this code "
                "(`make bench BENCH_ARGS=--paper-books`).")
    total = sum(chapters.values())
    named = [f"{name} {seconds:,.0f} s" for name, seconds in chapters.items() if seconds >= shown_from]
    rest = [name for name, seconds in chapters.items() if seconds < shown_from]
    jobs = result.get("paper_cold_jobs")
    text = (f"The notebooks of a cold paper book (`make book` on an empty cache with the shipped extractors"
            f"{f', JOBS={jobs}' if jobs else ''}) took {total:,.0f} s ({total / 3600:.1f} hours): "
            + "; ".join(named))
    if rest:
        text += f"; the other {len(rest)} chapters {sum(chapters[n] for n in rest):,.0f} s together"
    return text + "."


CHAPTER_START = re.compile(r"^> (?P<name>[a-z0-9-]+) \(")
CHAPTER_DONE = re.compile(r"^  (?P<name>[a-z0-9-]+): (?P<seconds>[0-9.]+) s$")


def chapter_seconds_from_logs(logs: list, names: list[str]) -> dict[str, float]:
    """Each chapter's wall seconds in its first completed run, reading ``make book`` logs
    (the runbook's terminal output) in the order given.

    A book resumed from its cache after a stop still counts every chapter cold: a chapter that
    completed before the stop ran cold then, and its warm reruns later are not counted.  The
    chapter that was running at the stop cannot be timed from these logs (its resumed run
    skips what the stopped one had cached); time it on its own and give that log first.
    """
    seconds: dict[str, float] = {}
    interrupted: dict[str, str] = {}
    for log in logs:
        started = None
        for line in Path(log).read_text(errors="replace").splitlines():
            if m := CHAPTER_START.match(line):
                started = m["name"]
            elif (m := CHAPTER_DONE.match(line)) and m["name"] == started:
                if started in interrupted and started not in seconds:
                    raise ValueError(f"{log}: chapter {started!r} resumes the run stopped in "
                                     f"{interrupted[started]}; time it on its own and give that log first")
                seconds.setdefault(started, float(m["seconds"]))
                started = None
        if started is not None:
            interrupted.setdefault(started, str(log))
    missing = [n for n in names if n not in seconds]
    if missing:
        raise ValueError(f"{', '.join(map(str, logs))}: no completed run of {missing}")
    return {name: seconds[name] for name in names}


def chapter_seconds_from_run(run_dir: Path, names: list[str]) -> dict[str, float]:
    """Each chapter's wall seconds as its executed notebook in ``run_dir`` records them."""
    import nbformat

    return {name: float(nbformat.read(Path(run_dir) / f"{name}.ipynb", as_version=4)
                        .metadata["metareweight"]["wall_seconds"]) for name in names}


def best_of(fns: dict, repeats: int) -> dict:
    """Interleave the functions ``repeats`` times; the best wall time of each, in seconds."""
    best = {k: float("inf") for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def bench_alignment(repeats: int = 3) -> dict:
    """Alignment scores of a batch of 100 on the CNN: fused, jvp and vmap against a backward-pass loop."""
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = Extractor()
    x, y = torch.rand(100, 3, 40, 40, generator=gen), torch.rand(100, generator=gen) * 0.5
    xv, yv = torch.rand(110, 3, 40, 40, generator=gen), torch.rand(110, generator=gen) * 0.2 + 0.1
    g = valid_gradient(model, xv, yv)
    ref = alignment_scores(model, x, y, g, "loop")
    fast = ("vmap", "jvp", "fused")
    secs = best_of({m: (lambda m=m: alignment_scores(model, x, y, g, m)) for m in ("loop", *fast)}, repeats)
    err = {m: float((alignment_scores(model, x, y, g, m) - ref).abs().max() / ref.abs().max()) for m in fast}
    fastest = min(fast, key=secs.get)
    return {"alignment_speedup": secs["loop"] / secs[fastest], "alignment_method": fastest,
            "alignment_seconds": secs, "alignment_rel_error": err}


def _authors_meta_step(X32, y32, w32, Xv32, yv32, alpha):
    """The authors' way: float32, explicit inverse of the normal matrix, autograd."""
    w = w32.clone().requires_grad_(True)
    Xw = X32 * w.unsqueeze(1)
    A = Xw.T @ X32 + alpha * X32.shape[0] * torch.eye(X32.shape[1])
    beta = torch.inverse(A) @ (Xw.T @ y32)
    loss = ((Xv32 @ beta - yv32) ** 2).mean()
    (g,) = torch.autograd.grad(loss, w)
    return g


def _authors_meta_loop(X, y, yhat0, Xv, yv, *, steps, lr, clip, alpha):
    """train_weights' loop (weight network, Adam, clipping) in float32 with the authors' solve."""
    t = [torch.as_tensor(a, dtype=torch.float32) for a in (X, y, yhat0, Xv, yv)]
    X32, y32, y032, Xv32, yv32 = t
    torch.manual_seed(0)
    net = WeightNet(20)
    params = list(net.parameters())
    opt = torch.optim.Adam(params, lr=lr)
    eye = torch.eye(X32.shape[1])
    for step in range(steps + 1):
        w = net(y32, y032)
        Xw = X32 * w.unsqueeze(1)
        beta = torch.inverse(Xw.T @ X32 + alpha * X32.shape[0] * eye) @ (Xw.T @ y32)
        loss = ((Xv32 @ beta - yv32) ** 2).mean()
        if step == steps:
            return float(loss.detach())
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_value_(params, clip)
        opt.step()


def _our_meta_step(X, y, w, Xv, yv, alpha, solve=ridge_solve_in_weights, **kwargs):
    w = w.clone().requires_grad_(True)
    beta = solve(X, y, w, alpha, "n", **kwargs)
    loss = ((Xv @ beta - yv) ** 2).mean()
    (g,) = torch.autograd.grad(loss, w)
    return g, beta.detach()


def cnn_like_features(n: int, m: int, gen: torch.Generator) -> torch.Tensor:
    """(n, m) features shaped like the CNN's: tanh of correlated inputs whose spectrum falls off
    as 1/k, rounded to float32 as the extractor's are.  At 7,780 x 400 (constant column added,
    random weights) the normal matrix with penalty "n" has a condition number near 4e3, as the
    features of a partly trained extractor on UTKFace did when measured (3.6e3); independent
    tanh features give about 5, which flatters any float32 shortcut."""
    Q, _ = torch.linalg.qr(torch.randn(m, m, generator=gen, dtype=torch.float64))
    scales = torch.arange(1, m + 1, dtype=torch.float64) ** -1.0
    lin = (torch.randn(n, m, generator=gen, dtype=torch.float64) * scales) @ Q
    lin = 0.6 * lin / lin.std() + 0.3 * torch.randn(m, generator=gen, dtype=torch.float64)
    return torch.tanh(lin).float().double()


def bench_meta_step(repeats: int = 5, n: int = 7780, p: int = 401, n_valid: int = 110, loop_steps: int = 30) -> dict:
    """The meta step at the paper's size: ours (``precision="fast"``, the book's path, and
    ``"exact"``) against the authors' way.  Seconds per step of a whole meta-step loop; errors
    of one hypergradient against float64 autograd through ridge_solve."""
    gen = torch.Generator().manual_seed(0)
    X = torch.cat([cnn_like_features(n + n_valid, p - 1, gen), torch.ones(n + n_valid, 1, dtype=torch.float64)], 1)
    signal = X @ torch.randn(p, generator=gen, dtype=torch.float64)
    y = 0.3 + 0.15 * signal / signal.std() + 0.05 * torch.randn(n + n_valid, generator=gen, dtype=torch.float64)
    X, Xv, y, yv = X[:n].contiguous(), X[n:].contiguous(), y[:n].contiguous(), y[n:].contiguous()
    w = torch.rand(n, generator=gen, dtype=torch.float64)
    alpha = 5e-3
    start = time.perf_counter()
    design = FixedDesign(X)  # what train_weights builds once per run of the meta step
    prepare = time.perf_counter() - start
    ref_g, ref_beta = _our_meta_step(X, y, w, Xv, yv, alpha, solve=ridge_solve)  # autograd, float64
    f32 = [t.float() for t in (X, y, w, Xv, yv)]
    def fast():
        with torch_threads(1):  # as in train_weights: torch's small work on one thread, BLAS on the design's
            return _our_meta_step(design, y, w, Xv, yv, alpha, precision="fast")

    # Timed as the book runs it: whole meta-step loops (weight network, Adam, solve) of
    # ``loop_steps`` steps through train_weights, against the same loop with the authors' solve.
    yhat0 = y + 0.05 * torch.randn(n, generator=gen, dtype=torch.float64)
    args = (X.numpy(), y.numpy(), yhat0.numpy(), Xv.numpy(), yv.numpy())
    kw = {"steps": loop_steps, "lr": 5e-3, "clip": 1e-4, "alpha": alpha}
    loops = best_of({
        "fast": lambda: train_weights(*args, MetaSettings(precision="fast", force_cpu=True, **kw)),
        "exact": lambda: train_weights(*args, MetaSettings(precision="exact", force_cpu=True, **kw)),
        "authors": lambda: _authors_meta_loop(*args, **kw),
    }, max(1, repeats // 2))
    secs = {k: v / (loop_steps + 1) for k, v in loops.items()}

    def rel(a, ref):
        return float((a.double() - ref).norm() / ref.norm())

    design.stats.update(solves=0, iterations=0, factorisations=0, fallbacks=0)
    fast_g, fast_beta = fast()
    exact_g, exact_beta = _our_meta_step(X, y, w, Xv, yv, alpha, precision="exact")
    return {"meta_step_speedup": secs["authors"] / secs["fast"],
            "meta_step_speedup_exact": secs["authors"] / secs["exact"],
            "meta_step_rel_error": rel(fast_g, ref_g),
            "meta_step_beta_rel_error": rel(fast_beta, ref_beta),
            "meta_step_rel_error_exact": rel(exact_g, ref_g),
            "meta_step_beta_rel_error_exact": rel(exact_beta, ref_beta),
            "meta_step_authors_rel_error": rel(_authors_meta_step(*f32, alpha), ref_g),
            "meta_step_iterations": design.stats["iterations"],
            "meta_step_fallbacks": design.stats["fallbacks"],
            "meta_step_seconds": secs, "meta_step_loop_steps": loop_steps,
            "meta_step_prepare_seconds": prepare, "meta_step_size": [n, p]}


def bench_epoch(repeats: int = 2, n: int = 2000) -> dict:
    """One extractor epoch through ``train_extractor`` vs a bare PyTorch loop, same model and data."""
    rng = np.random.default_rng(0)
    images = rng.random((n, 40, 40, 3), dtype=np.float32)
    targets = images[:, 10:30, 10:30, 0].mean(axis=(1, 2))

    def ours():
        train_extractor(images, targets, epochs=1, use_cache=False, progress=False, force_cpu=True)

    def bare():
        torch.manual_seed(0)
        model = Extractor()
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        x, y = to_tensor(images), torch.as_tensor(targets)
        for lo in range(0, n, 100):
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(x[lo:lo + 100]), y[lo:lo + 100]).backward()
            opt.step()

    secs = best_of({"ours": ours, "bare": bare}, repeats)
    return {"epoch_overhead_ratio": secs["ours"] / secs["bare"], "epoch_seconds": secs, "epoch_rows": n}


def bench_jobs(n: int = 6000, n_splits: int = 4, steps: int = 300) -> dict:
    """Four independent splits through :func:`experiment.run_all` (one-epoch extractors, 300 meta
    steps on about 4,500 rows each), serially and in two worker processes (``JOBS=1`` against
    ``JOBS=2``; every run on one thread, :data:`pool.RUN_THREADS`), each on its own empty cache:
    what a second worker pays off here."""
    from .data import make_standin
    from .experiment import run_all
    from .pool import RUN_THREADS
    from .profiles import resolve
    from .splits import make_splits

    faces = make_standin(n=n, seed=11)
    splits = make_splits(faces.ages, n_splits=n_splits, block=500, val_offset=600)
    cfg = resolve("quick", epochs=1, meta_steps=steps)
    secs = {}
    for name, n_jobs in (("serial", 1), ("jobs2", 2)):
        with tempfile.TemporaryDirectory(prefix="mrw-jobs-") as cache:
            with environment(**{CACHE_ENV: cache}):
                start = time.perf_counter()
                run_all(faces, splits, cfg, progress=False, n_jobs=n_jobs)
                secs[name] = time.perf_counter() - start
    return {"jobs2_speedup": secs["serial"] / secs["jobs2"], "jobs_seconds": secs,
            "jobs_threads": {"serial": RUN_THREADS, "jobs2": RUN_THREADS}}


def time_book(profile: str, cache: str, root: Path) -> float:
    """Wall seconds of ``make book PROFILE=...`` with the given cache folder."""
    env = {**os.environ, CACHE_ENV: cache}
    start = time.perf_counter()
    subprocess.run(["make", "book", f"PROFILE={profile}"], cwd=root, env=env, check=True)  # live progress shown
    return time.perf_counter() - start


PAPER_KEYS = ("paper_cold_seconds", "paper_cold_chapters", "paper_cold_jobs", "paper_warm_seconds", "warm_over_cold")


def cold_then_warm(profile: str, root: Path) -> list[tuple[float, dict[str, float]]]:
    """``make book`` on an empty temporary cache, then again with it filled: for each run its wall
    seconds and its chapters' wall seconds (:func:`chapter_seconds_from_run`)."""
    names, runs = toc_notebooks(root), []
    with tempfile.TemporaryDirectory(prefix="mrw-bench-") as cache:
        for _ in range(2):
            wall = time_book(profile, cache, root)
            runs.append((wall, chapter_seconds_from_run(root / "notebooks" / "_run", names)))
    return runs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--books", action="store_true",
                        help="also time the quick book cold and warm (minutes)")
    parser.add_argument("--skip-micro", action="store_true",
                        help="keep the previous micro-benchmarks (alignment, meta step, epoch); only record books")
    parser.add_argument("--paper-books", action="store_true",
                        help="also time `make book` (paper profile) cold and warm on an empty cache (hours)")
    parser.add_argument("--paper-cold-logs", nargs="+", default=None, metavar="LOG",
                        help="record a cold `make book` (paper profile) run earlier, from its terminal "
                             "output; a book resumed after a stop gives one log per run, in order")
    parser.add_argument("--paper-warm-seconds", type=float, default=None,
                        help="with --paper-cold-logs: the notebooks' wall seconds of a warm `make book` "
                             "right after it, to record")
    args = parser.parse_args(argv)
    root = repo_root()
    out = root / "results" / "bench.json"
    previous = json.loads(out.read_text()) if out.exists() else {}
    result = {"machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                          "platform": platform.platform(), "cuda": torch.cuda.is_available()},
              "goals": GOALS}
    if args.skip_micro:  # everything but the book timings (and goals), as last measured
        result.update({k: v for k, v in previous.items()
                       if k != "goals" and not k.startswith(("quick", "paper", "warm"))})
    else:
        for bench in (bench_alignment, bench_meta_step, bench_epoch, bench_jobs):
            print(f"{bench.__name__} ...", flush=True)
            result.update(bench())
    if args.books:
        (cold, _), (warm, _) = cold_then_warm("quick", root)
        result.update({"quick_book_seconds": cold, "quick_book_warm_seconds": warm})
    else:
        for key in ("quick_book_seconds", "quick_book_warm_seconds"):
            if key in previous:
                result[key] = previous[key]
    # the paper book's timings are its notebooks' seconds, however they were measured
    warm = chapters = None
    if args.paper_books:
        (_, chapters), (_, warm_chapters) = cold_then_warm("paper", root)
        warm = sum(warm_chapters.values())
    elif args.paper_cold_logs:
        chapters = chapter_seconds_from_logs(args.paper_cold_logs, toc_notebooks(root))
        warm = args.paper_warm_seconds
    if chapters:
        cold = sum(chapters.values())  # a new measurement replaces every paper timing of the last one
        result.update({"paper_cold_seconds": cold, "paper_cold_chapters": chapters, "paper_cold_jobs": jobs()})
        if warm:
            result.update({"paper_warm_seconds": warm, "warm_over_cold": warm / cold})
    else:
        result.update({k: previous[k] for k in PAPER_KEYS if k in previous})

    write_json(out, result, indent=2)
    readme = root / "README.md"
    if BENCH_START in readme.read_text():
        replace_block(readme, timings_block(result))
    print(json.dumps({k: v for k, v in result.items() if not isinstance(v, dict)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
