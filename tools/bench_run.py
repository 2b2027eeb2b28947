#!/usr/bin/env python3
"""Record and render the wall time of tools/bench.sh: per suite (build, run, report) and in all.

    tools/bench_run.py --timings FILE --out results/bench_run.json [--seed bench/results/bench_run.json]
                       --mode quick|full --command "tools/bench.sh ..." --complete 0|1
                       --load-start L --load-end L --total SECONDS

FILE holds one line per timed step, `suite phase seconds` (phase: build, run, report; suite
`plots` for the gnuplot step), written by tools/bench.sh as it goes. The result file keeps one
record per mode (quick, full): the last invocation that ran every suite (`complete`), and the
suites of later `--only` invocations under `partial`. A mode's record from --seed (the committed
copy) is kept when this invocation is of the other mode, so a --quick run does not erase the
last full run's times. render_section() and readme_sentence() are used by
tools/targets_report.py. Python 3 standard library only.
"""

import argparse
import datetime
import json
import os
import subprocess

from report_sections import load_json

# The budgets on this machine (2 shared cores), seconds.
BUDGETS = {"full": 20 * 60, "quick": 3 * 60}
SUITES = ("ring", "bus", "queue", "persist")


def git_commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def read_timings(path):
    steps = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) != 3:
                continue
            suite, phase, secs = parts
            steps.setdefault(suite, {})[f"{phase}_seconds"] = round(float(secs), 1)
    for s in steps.values():
        s["seconds"] = round(sum(v for k, v in s.items() if k.endswith("_seconds")), 1)
    return steps


def record(a):
    data = load_json(a.out) or load_json(a.seed) or {}
    data["schema"] = "lanes.bench_run.v1"
    data["budgets_seconds"] = BUDGETS
    runs = data.setdefault("runs", {})
    steps = read_timings(a.timings)
    started = (datetime.datetime.now(datetime.timezone.utc) -
               datetime.timedelta(seconds=a.total)).strftime("%Y-%m-%dT%H:%M:%SZ")
    entry = {
        "command": a.command,
        "date": started,  # when the invocation started
        "git_commit": git_commit(),
        "cpus": os.cpu_count(),
        "load_average_start": a.load_start,
        "load_average_end": a.load_end,
    }
    if a.complete:
        entry["total_seconds"] = round(a.total, 1)
        entry["budget_seconds"] = BUDGETS[a.mode]
        entry["steps"] = steps
        runs[a.mode] = entry
    else:
        mode = runs.setdefault(a.mode, {})
        partial = mode.setdefault("partial", {})
        for suite, s in steps.items():
            if suite in SUITES:
                partial[suite] = dict(s, **entry)
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    total = a.total
    budget = BUDGETS[a.mode]
    parts = ", ".join(f"{k} {v['seconds']:.0f} s" for k, v in steps.items())
    verdict = "within" if total <= budget else "OVER"
    print(f"bench.sh: wall time {parts}; total {total:.0f} s "
          f"({'--quick' if a.mode == 'quick' else 'full run'} budget {budget} s: {verdict})")


def fmt(s):
    return f"{s / 60:.1f} min" if s >= 120 else f"{s:.0f} s"


def render_section(data, path):
    """Markdown lines: a table of the last complete run of each mode."""
    if not data:
        return []
    out = ["### Run time of `tools/bench.sh`", "",
           f"From `{path}`, recorded by `tools/bench.sh` itself: wall time per suite (build of "
           "its target + run + report) and in all (configuring with `cmake --preset` included, "
           "the final summary, under a second, not). "
           "The budgets are the issue's, for this 2-CPU shared machine.", ""]
    out.append("| run | started, commit | load at start / end | " + " | ".join(SUITES) +
               " | plots | total | budget |")
    out.append("| --- | --- | --- |" + " --- |" * len(SUITES) + " --- | --- | --- |")
    runs = data.get("runs", {})
    for mode in ("full", "quick"):
        r = runs.get(mode)
        if not r or "total_seconds" not in r:
            out.append(f"| `{'tools/bench.sh' if mode == 'full' else 'tools/bench.sh --quick'}` | "
                       "not recorded yet | - |" + " - |" * len(SUITES) + " - | - | "
                       f"{fmt(BUDGETS[mode])} |")
            continue
        st = r["steps"]
        cells = []
        for s in SUITES + ("plots",):
            x = st.get(s)
            if x is None:
                cells.append("-")
            elif "build_seconds" in x:
                cells.append(f"{x['seconds']:.0f} s (build {x['build_seconds']:.0f})")
            else:
                cells.append(f"{x['seconds']:.0f} s")
        over = r["total_seconds"] > r["budget_seconds"]
        out.append(f"| `{r['command']}` | {r['date']}, `{r['git_commit']}` | "
                   f"{r['load_average_start']:.2f} / {r['load_average_end']:.2f} | " + " | ".join(cells) +
                   f" | **{fmt(r['total_seconds'])}** | {fmt(r['budget_seconds'])}"
                   f"{' (**over**)' if over else ' (within)'} |")
    later = [(mode, s, x) for mode in ("full", "quick") for s, x in runs.get(mode, {}).get("partial", {}).items()]
    if later:
        out.append("")
        out.append("Later single-suite runs (`--only`): " + "; ".join(
            f"{s} ({mode}) {x['seconds']:.0f} s on {x['date']}" for mode, s, x in later) + ".")
    out.append("")
    return out


def readme_sentence(data):
    runs = (data or {}).get("runs", {})
    parts = []
    for mode, name in (("full", "the full run"), ("quick", "`--quick`")):
        r = runs.get(mode)
        if r and "total_seconds" in r:
            parts.append(f"{fmt(r['total_seconds'])} for {name} (budget {fmt(r['budget_seconds'])}; "
                         f"{r['date'][:10]}, load {r['load_average_start']:.1f})")
        else:
            parts.append(f"{name}: not recorded yet (budget {fmt(BUDGETS[mode])})")
    return "Measured wall time on this machine: " + "; ".join(parts) + "."


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timings", required=True)
    ap.add_argument("--out", default="results/bench_run.json")
    ap.add_argument("--seed", default="bench/results/bench_run.json")
    ap.add_argument("--mode", choices=("quick", "full"), required=True)
    ap.add_argument("--command", default="tools/bench.sh")
    ap.add_argument("--complete", type=int, default=0)
    ap.add_argument("--load-start", type=float, default=0.0)
    ap.add_argument("--load-end", type=float, default=0.0)
    ap.add_argument("--total", type=float, required=True)
    record(ap.parse_args())


if __name__ == "__main__":
    main()
