"""Throughput of munorders against a bare aiogram bot, measured in the same run.

    python -m benchmarks.throughput                  # 100,000 orders, 200 users, 3,000 updates
    python -m benchmarks.throughput --quick          # smoke run: 5,000 orders, 50 users, 500 updates
    python -m benchmarks.throughput --profile /tmp/prof   # also cProfile both bots (slower) and print hotspots

munorders runs as in production (`run_bot`: dispatcher, middlewares, outbox sender, polling) on a fresh
SQLite file holding the demo organisation (plus synthetic staff up to --users) and --orders orders. The
simulated users drive it through the Bot API emulator over HTTP with a mix of /inbox, /outbox, opening
cards, accepting (and picking an executor), reporting, closing, commenting and viewing history (see
benchmarks.actors). Each bot runs in a child process of its own; the emulator and the users run here.

The baseline is a bare aiogram bot: one message handler and one callback handler, each doing one SQLite
transaction (same engine settings) and sending one message (and answering the callback). It gets the same
users replaying the same sequence of update kinds.

Latency of an update: from the user's action (the update queued in the emulator) until the bot finished
handling it. Throughput: timed updates / seconds from the first action until the last update was handled.
Both are measured in a closed loop (every user waits for the bot before acting again, no think time), so
the bots are saturated and latency is mostly queueing (p50 ≈ users / throughput).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import pstats
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.actors import Actor, MunUser, ReplayUser, Run, Step, sim_user
from benchmarks.botproc import BotConfig, peak_rss_kb
from benchmarks.harness import BotProcess, Completions, ExitInfo, TimedEmulator
from benchmarks.seed import Person, SeedResult, seed
from tests.emulator import EmulatorTimeout, SimUser

TOKEN = "123456:BENCHMARK"
TARGET = 0.7
DEFAULTS = {"orders": 100_000, "users": 200, "updates": 3_000}
QUICK = {"orders": 5_000, "users": 50, "updates": 500}


@dataclass
class Result:
    name: str
    updates: int
    seconds: float
    latencies_ms: list[float]
    timeouts: int = 0
    raised: int = 0  # updates whose handling raised past the bot's own error handling
    crashed_users: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # requests the emulator (as Telegram) refused
    refused_answers: Counter[str] = field(default_factory=Counter)  # why callback answers were refused
    latency_by_label: dict[str, list[float]] = field(default_factory=dict)
    exit: ExitInfo | None = None
    calls: Counter[str] = field(default_factory=Counter)
    mix: Counter[str] = field(default_factory=Counter)
    drain_seconds: float | None = None
    log_path: Path | None = None

    @property
    def rate(self) -> float:
        return self.updates / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile of the latencies (ms)."""
        if not self.latencies_ms:
            return math.nan
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


ActorsFactory = Callable[[Run, dict[int, SimUser]], Sequence[Actor]]


async def run_phase(
    kind: str,
    database_url: str,
    people: Sequence[Person],
    make_actors: ActorsFactory,
    *,
    budget: int | None,
    workdir: Path,
    profile_dir: Path | None,
    update_timeout: float,
) -> tuple[Result, list[Step]]:
    """Start the emulator and the bot, let every user /start (untimed), then time the users' work."""
    emu = TimedEmulator(token=TOKEN, bot_username="munorders_bot", strict=True)
    await emu.start()
    completions = Completions()
    log_path = workdir / f"{kind}.log"
    profile = str(profile_dir / f"{kind}.prof") if profile_dir else None
    proc = BotProcess(BotConfig(kind, TOKEN, emu.base_url, database_url, str(log_path), profile), completions)
    try:
        await proc.start(emu)
        print(f"  {kind} bot polling, pid {proc.pid} (to profile it: py-spy record --pid {proc.pid})", flush=True)
        sims = {p.telegram_id: sim_user(emu, p) for p in people}
        warmup = Run(emu, completions, budget=None, timeout=update_timeout)
        await asyncio.gather(*(warmup.text(sim, "/start", "start") for sim in sims.values()))
        await emu.wait_idle(timeout=120, quiet=0.3)

        run = Run(emu, completions, budget=budget, timeout=update_timeout)
        actors = make_actors(run, sims)
        started = time.monotonic()
        outcomes = await asyncio.gather(*(actor.work() for actor in actors), return_exceptions=True)
        handled = [s for s in run.steps if s.update_id in completions.done]
        finished = max((completions.done[s.update_id] for s in handled), default=time.monotonic())
        latency = {s.update_id: (completions.done[s.update_id] - emu.queued_at[s.update_id]) * 1000 for s in handled}
        by_label: dict[str, list[float]] = {}
        for s in handled:
            by_label.setdefault(s.label, []).append(latency[s.update_id])
        result = Result(
            kind,
            updates=len(handled),
            seconds=finished - started,
            latencies_ms=list(latency.values()),
            latency_by_label=by_label,
            timeouts=run.timeouts,
            raised=sum(1 for s in run.steps if s.update_id in completions.failed),
            crashed_users=[repr(o) for o in outcomes if isinstance(o, BaseException)],
            mix=Counter(s.label for s in run.steps),
            log_path=log_path,
        )
        drain_started = time.monotonic()
        try:  # let the bot deliver what it still has to (munorders: notifications in the outbox)
            await emu.wait_idle(timeout=300, quiet=1.5)
            result.drain_seconds = max(0.0, time.monotonic() - drain_started - 1.5)
        except EmulatorTimeout:
            result.drain_seconds = None
        result.failures = emu.take_failures()
        result.refused_answers = emu.refused_answers
        result.calls = Counter(call.method for call in emu.requests if call.at >= started)
    finally:
        await proc.stop()
        await emu.stop()
    result.exit = proc.exit_info
    return result, run.steps


def munorders_actors(people: Sequence[Person], rng_seed: int) -> ActorsFactory:
    pickable = frozenset(p.user_id for p in people)

    def make(run: Run, sims: dict[int, SimUser]) -> list[Actor]:
        return [
            MunUser(run, sims[p.telegram_id], p, pickable, random.Random(rng_seed * 1_000_003 + p.telegram_id))
            for p in people
        ]

    return make


def replay_actors(people: Sequence[Person], steps: Sequence[Step]) -> ActorsFactory:
    scripts: dict[int, list[Step]] = {p.telegram_id: [] for p in people}
    for step in steps:
        scripts.setdefault(step.user_id, []).append(step)

    def make(run: Run, sims: dict[int, SimUser]) -> list[Actor]:
        return [ReplayUser(run, sims[p.telegram_id], scripts[p.telegram_id]) for p in people]

    return make


# --- report ---------------------------------------------------------------------------------------------------


def _mb(kb: int | None) -> str:
    return f"{kb / 1024:.0f}" if kb else "?"


def print_report(seeded: SeedResult, args: argparse.Namespace, mun: Result, bare: Result) -> int:
    print()
    print(f"{'bot':<14}{'updates':>9}{'seconds':>10}{'updates/s':>11}{'p50 ms':>10}{'p99 ms':>10}{'peak RSS MB':>13}")
    for r in (mun, bare):
        rss = _mb(r.exit.rss_kb if r.exit else None)
        print(
            f"{r.name:<14}{r.updates:>9}{r.seconds:>10.1f}{r.rate:>11.1f}"
            f"{r.percentile(50):>10.0f}{r.percentile(99):>10.0f}{rss:>13}"
        )
    ratio = mun.rate / bare.rate if bare.rate else math.nan
    print(f"ratio (munorders/bare updates/s) = {ratio:.2f} (target >= {TARGET:.2f})")
    print()
    print("munorders mix: " + ", ".join(f"{k} {v}" for k, v in mun.mix.most_common()))
    print(
        "munorders p50 ms by step: "
        + ", ".join(f"{k} {statistics.median(v):.0f}" for k, v in sorted(mun.latency_by_label.items()))
    )
    for r in (mun, bare):
        calls = ", ".join(f"{k} {v}" for k, v in r.calls.most_common())
        drain = f"{r.drain_seconds:.1f} s" if r.drain_seconds is not None else "did not settle in 300 s"
        print(f"{r.name} Bot API calls: {calls}; settled {drain} after the last update")
    mun_rss, bare_rss = (_mb(r.exit.rss_kb if r.exit else None) for r in (mun, bare))
    print(f"peak RSS: munorders {mun_rss} MB, bare {bare_rss} MB, driver (emulator + users) {_mb(peak_rss_kb())} MB")
    print(f"seeding: {seeded.seconds:.1f} s")

    problems = 0
    for r in (mun, bare):
        errors = r.exit.errors if r.exit else 0
        if r.timeouts or r.raised or r.crashed_users or errors:
            problems += 1
            print(
                f"{r.name}: {r.timeouts} update(s) not handled within {args.timeout:.0f} s, {r.raised} raised, "
                f"{errors} error(s) logged (see {r.log_path})"
            )
            for text in (r.exit.first_errors if r.exit else [])[:2] + r.crashed_users[:3]:
                print("   ", text.replace("\n", "\n    ")[:1500])
    failures = mun.failures + bare.failures
    kinds = mun.refused_answers + bare.refused_answers
    never = sum(1 for f in failures if "was never answered" in f)
    if never:
        kinds["callback never answered"] = never
    other = len(failures) - sum(kinds.values())
    if other > 0:
        kinds["other"] = other
    detail = " (" + ", ".join(f"{k}: {v}" for k, v in kinds.most_common()) + ")" if failures else ""
    print(f"emulator failures: {len(failures)}{detail}")
    for text in failures[:5]:
        print("  -", text[:400])
    return problems + len(failures)


def print_profile(path: Path, limit: int = 25) -> None:
    if not path.exists():
        return
    print(f"\n=== {path.name}: top {limit} by own time ===")
    pstats.Stats(str(path), stream=sys.stdout).sort_stats("tottime").print_stats(limit)
    print(f"=== {path.name}: project code by cumulative time ===")
    project = r"/work/main/(bot|handlers|storage|keyboards)/"
    pstats.Stats(str(path), stream=sys.stdout).sort_stats("cumulative").print_stats(project, limit)


# --- main -----------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.throughput", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--orders", type=int, help=f"orders in the database (default {DEFAULTS['orders']:,})")
    parser.add_argument("--users", type=int, help=f"simulated users (default {DEFAULTS['users']})")
    parser.add_argument("--updates", type=int, help=f"timed updates per bot (default {DEFAULTS['updates']:,})")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: " + ", ".join(f"{v} {k}" for k, v in QUICK.items())
    )
    parser.add_argument("--seed", type=int, default=2026, help="random seed (data and behaviour)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a user waits for one update")
    parser.add_argument("--workdir", type=Path, help="keep the databases and bot logs here (default: a temp dir)")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="cProfile both bots into DIR and print hotspots")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else DEFAULTS
    for key, value in base.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


async def bench(args: argparse.Namespace, seeded: SeedResult, workdir: Path) -> int:
    people = seeded.people
    print(f"munorders: {len(people)} users, {args.updates:,} timed updates ...", flush=True)
    mun, steps = await run_phase(
        "munorders",
        seeded.url,
        people,
        munorders_actors(people, args.seed),
        budget=args.updates,
        workdir=workdir,
        profile_dir=args.profile,
        update_timeout=args.timeout,
    )
    print(f"  {mun.updates} updates in {mun.seconds:.1f} s ({mun.rate:.1f}/s)", flush=True)
    print(f"bare aiogram bot: the same {len(steps):,} updates ...", flush=True)
    bare, _ = await run_phase(
        "bare",
        f"sqlite+aiosqlite:///{workdir / 'bare.db'}",
        people,
        replay_actors(people, steps),
        budget=None,
        workdir=workdir,
        profile_dir=args.profile,
        update_timeout=args.timeout,
    )
    print(f"  {bare.updates} updates in {bare.seconds:.1f} s ({bare.rate:.1f}/s)", flush=True)
    problems = print_report(seeded, args, mun, bare)
    if args.profile:
        for name in ("munorders", "bare"):
            print_profile(args.profile / f"{name}.prof")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="munorders-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    for stale in workdir.glob("bare.db*"):
        stale.unlink()
    print(f"seeding {args.orders:,} orders, {args.users} users into {workdir} ...", flush=True)
    seeded = seed(workdir / "munorders.db", orders=args.orders, users=args.users, rng_seed=args.seed)
    print(
        f"  seeded in {seeded.seconds:.1f} s: {seeded.departments} departments, {seeded.staff} staff, "
        f"{seeded.orders:,} orders (the {seeded.hot_orders} most overdue in states to act on)",
        flush=True,
    )
    problems = asyncio.run(bench(args, seeded, workdir))
    if args.workdir is None and not problems:
        shutil.rmtree(workdir, ignore_errors=True)
    elif problems:
        print(f"databases and bot logs kept in {workdir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
