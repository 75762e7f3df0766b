"""Crew dispatch quality at equal time budget: PyVRP, OR-Tools and VROOM on Solomon's 56 VRPTW instances.

Every solver gets the same problem through the same code path as the API (``routing.dispatch.plan_dispatch``:
screening, the solver's adapter, our scheduler, the feasibility checker), the same wall-clock budget on one
thread, and the DIMACS convention (arcs truncated to one decimal, fleet limited to the vehicles of the optimum,
objective = total length). For each run: vehicles, length, gap to the optimum, time, unserved customers and
the checker's verdict. A length below the optimum would mean a convention mismatch: it is flagged.

Run: ``python -m benchmarks.bench_dispatch`` (``make bench-dispatch``): 2 s on all 56 instances, 10 s on
twelve (two per class); ``--budgets``, ``--long-subset``, ``--instances`` and ``--solvers`` change that.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.solomon import BKS, gap_pct, solomon_files, solomon_instance, total_length
from routing.dispatch import PlanCheckFailed, plan_dispatch
from routing.dispatch_check import check_plan

SOLVERS = ("pyvrp", "ortools", "vroom")
LONG_SUBSET = (
    "C104",
    "C208",
    "R103",
    "R107",
    "R202",
    "R211",
    "RC101",
    "RC105",
    "RC202",
    "RC207",
    "R112",
    "C106",
)
CLASSES = ("C1", "C2", "R1", "R2", "RC1", "RC2")


@dataclass
class Run:
    instance: str
    solver: str
    budget_s: float
    vehicles: int
    length: float
    gap_pct: float
    time_s: float
    unserved: int
    feasible: bool
    below_optimum: bool


def _class_of(name: str) -> str:
    return name[:3] if name.startswith("RC") else name[:2]


def run_one(name: str, path: Path, solver: str, budget_s: float) -> Run:
    solomon = solomon_instance(path)
    began = time.perf_counter()
    try:
        plan = plan_dispatch(solomon.instance, time_budget_s=budget_s, solver=solver)
        feasible = not check_plan(solomon.instance, plan)
    except PlanCheckFailed:
        return Run(name, solver, budget_s, 0, float("nan"), float("nan"), 0.0, 100, False, False)
    elapsed = time.perf_counter() - began
    length = total_length(plan.travel_s)
    optimum = BKS[name][1]
    unserved = len(plan.unassigned)
    return Run(
        name,
        solver,
        budget_s,
        len(plan.routes),
        length,
        gap_pct(length, optimum) if not unserved else float("nan"),
        elapsed,
        unserved,
        feasible,
        bool(not unserved and length < optimum - 1e-6),
    )


def _print_run(run: Run) -> None:
    optimum_vehicles, optimum = BKS[run.instance]
    flag = " BELOW OPTIMUM" if run.below_optimum else ""
    flag += "" if run.feasible else " INFEASIBLE"
    print(
        f"{run.instance:<6} {run.solver:<8} {run.budget_s:>4g}s  veh {run.vehicles:>2}/{optimum_vehicles:<2} "
        f"len {run.length:>8.1f} (opt {optimum:>7.1f}) gap {run.gap_pct:>6.2f}%  unserved {run.unserved:>2}  "
        f"{run.time_s:5.2f}s{flag}",
        flush=True,
    )


def summarise(runs: list[Run], budget_s: float) -> list[str]:
    lines = [
        f"-- budget {budget_s:g} s: mean gap to the optimum (%) per class, instances with every customer served"
    ]
    solvers = sorted({r.solver for r in runs}, key=SOLVERS.index)
    header = f"{'class':<6}" + "".join(f"{s:>10}" for s in solvers)
    lines.append(header)
    for cls in (*CLASSES, "all"):
        row = f"{cls:<6}"
        for solver in solvers:
            gaps = [
                r.gap_pct
                for r in runs
                if r.solver == solver and (cls == "all" or _class_of(r.instance) == cls) and not r.unserved
            ]
            row += f"{statistics.mean(gaps):>10.2f}" if gaps else f"{'—':>10}"
        lines.append(row)
    by_solver = {s: [r for r in runs if r.solver == s] for s in solvers}
    names = sorted({r.instance for r in runs})
    for solver, rows in by_solver.items():
        served = [r for r in rows if not r.unserved]
        best = sum(
            1
            for n in names
            if (mine := next((r for r in rows if r.instance == n), None)) is not None
            and not mine.unserved
            and all(mine.length <= o.length + 1e-6 for o in runs if o.instance == n and not o.unserved)
        )
        lines.append(
            f"{solver:<8} feasible {sum(r.feasible for r in rows)}/{len(rows)}  all served {len(served)}/{len(rows)}  "
            f"optimum reached {sum(1 for r in served if r.gap_pct < 0.005)}  best of the three {best}  "
            f"mean time {statistics.mean(r.time_s for r in rows):.2f}s  below optimum {sum(r.below_optimum for r in rows)}"
        )
    if "pyvrp" in by_solver:
        ref = {r.instance: r for r in by_solver["pyvrp"] if not r.unserved}
        for solver, rows in by_solver.items():
            if solver == "pyvrp":
                continue
            pairs = [(r.length, ref[r.instance].length) for r in rows if not r.unserved and r.instance in ref]
            if pairs:
                ratio = statistics.mean(a / b for a, b in pairs)
                lines.append(f"length ratio {solver}/pyvrp (mean over {len(pairs)} instances): {ratio:.4f}")
    for line in lines:
        print(line, flush=True)
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", default="2,10", help="comma-separated seconds; the first runs on all")
    parser.add_argument("--long-subset", default=",".join(LONG_SUBSET), help="instances of the other budgets")
    parser.add_argument("--instances", default="", help="comma-separated names (default: all 56)")
    parser.add_argument("--solvers", default=",".join(SOLVERS))
    parser.add_argument("--json", type=Path, help="write every run to this file")
    args = parser.parse_args(argv)
    files = {p.name.split(".")[0]: p for p in solomon_files()}
    if not files:
        print("no Solomon instances found (../shared/data/vrptw); skipping", file=sys.stderr)
        return
    wanted = [n for n in args.instances.split(",") if n] or sorted(files)
    budgets = [float(b) for b in args.budgets.split(",") if b]
    solvers = [s for s in args.solvers.split(",") if s]
    subset = [n for n in args.long_subset.split(",") if n in files]
    runs: list[Run] = []
    for k, budget in enumerate(budgets):
        names = wanted if k == 0 else [n for n in subset if n in wanted or not args.instances]
        print(
            f"== {len(names)} instances x {len(solvers)} solvers at {budget:g} s (single thread, wall clock)"
        )
        batch = []
        for name in names:
            for solver in solvers:
                run = run_one(name, files[name], solver, budget)
                _print_run(run)
                batch.append(run)
        summarise(batch, budget)
        runs.extend(batch)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in runs], indent=1))


if __name__ == "__main__":
    main()
