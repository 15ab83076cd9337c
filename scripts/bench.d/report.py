"""Turn one scripts/bench run into docs/benchmarks.md and a summary on stdout.

Reads hyperfine's JSON and Markdown exports and the figures the script
measured; judges each budget of DESIGN §9 on medians. Paths of the run's
temp directory and of the checkout are shown as $WORK and . in the doc.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

RSS_BUDGET_BYTES = 10_000_000  # "under 10 MB"


def results(path):
    with open(path) as f:
        return json.load(f)["results"]


def medians(path):
    return {r["command"]: r["median"] for r in results(path)}


def median_table(path, reference):
    """Our table: medians first (what the budgets judge), ratios to `reference`."""
    rows = results(path)
    base = next(r["median"] for r in rows if r["command"] == reference)
    lines = [
        "| command | median | mean ± σ | min … max | runs | median / median of "
        f"`{reference}` |",
        "|:---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| `{r['command']}` | {ms(r['median'])} | {ms(r['mean'])} ± {ms(r['stddev'])} "
            f"| {ms(r['min'])} … {ms(r['max'])} | {len(r['times'])} "
            f"| {r['median'] / base:.2f} |"
        )
    return "\n".join(lines)


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def first_line(command):
    try:
        out = subprocess.run(command, capture_output=True, text=True, check=False)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError):
        return "unknown"


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def os_name():
    try:
        with open("/etc/os-release") as f:
            fields = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
        return fields.get("PRETTY_NAME", "").strip('"')
    except OSError:
        return platform.system()


def ms(seconds):
    return f"{seconds * 1000:.2f} ms"


def verdict(met):
    return "met" if met else "**MISSED**"


def main():
    p = argparse.ArgumentParser()
    for name in ("oath-json", "oath-md", "assume-json", "assume-md", "serve-json", "serve-md",
                 "serve-loop", "time-v", "apdus",
                 "root", "work", "findings", "output", "rustc", "load-before"):
        p.add_argument(f"--{name}", required=True)
    for name in ("rss-vegas-kb", "rss-true-kb", "rss-botocore-kb",
                 "sts-calls-during-hits", "apdus-during-hits", "apdu-delay-ms"):
        p.add_argument(f"--{name}", required=True, type=int)
    p.add_argument("--command", action="append", default=[])
    a = p.parse_args()

    def tidy(text):
        return text.replace(a.work, "$WORK").replace(a.root + "/", "./")

    oath = medians(a.oath_json)
    hit = medians(a.assume_json)
    vegas_code = oath["vegas oath code"]
    ykman_code = oath["ykman oath accounts code --single"]
    vegas_hit = hit["vegas assume (cache hit)"]
    true_run = hit["/bin/true"]
    boto_hit = hit["botocore assume-role (cache hit)"]

    oath_ratio = ykman_code / vegas_code
    true_ratio = vegas_hit / true_run
    boto_ratio = boto_hit / vegas_hit
    rss_bytes = a.rss_vegas_kb * 1024
    budgets = [
        ("`vegas oath code` vs `ykman oath accounts code --single`, same card",
         "≥ 20× faster", f"{oath_ratio:.1f}× faster ({ms(vegas_code)} vs {ms(ykman_code)})",
         oath_ratio >= 20),
        ("cache-hit `vegas assume` vs `/bin/true`",
         "≤ 3× slower", f"{true_ratio:.2f}× ({ms(vegas_hit)} vs {ms(true_run)})",
         true_ratio <= 3),
        ("cache-hit `vegas assume` vs botocore's assume-role cache hit",
         "≥ 100× faster", f"{boto_ratio:.0f}× faster ({ms(vegas_hit)} vs {ms(boto_hit)})",
         boto_ratio >= 100),
        ("peak RSS of a cache-hit `vegas assume` (largest of 20)",
         "< 10 MB", f"{rss_bytes / 1e6:.1f} MB ({a.rss_vegas_kb} KiB)",
         rss_bytes < RSS_BUDGET_BYTES),
    ]

    with open(a.apdus) as f:
        apdu_rows = [f"| `{name}` | {count} |" for name, count in
                     (line.strip().rsplit("=", 1) for line in f if "=" in line)]

    now = datetime.datetime.now(datetime.timezone.utc)
    with open(a.oath_md) as f:
        oath_table = tidy(f.read().strip())
    with open(a.assume_md) as f:
        assume_table = tidy(f.read().strip())
    findings = ""
    if os.path.exists(a.findings):
        with open(a.findings) as f:
            findings = f.read().strip()
    with open(a.serve_md) as f:
        serve_table = tidy(f.read().strip())
    with open(a.serve_loop) as f:
        loop_median, loop_p90, loop_runs = f.read().split()
    with open(a.time_v) as f:
        time_v = tidy(f.read().strip())

    venv = os.path.join(a.root, ".venv/bin")
    machine = [
        ("date", now.strftime("%Y-%m-%d %H:%M UTC")),
        ("CPU", f"{cpu_model()}, {os.cpu_count()} CPUs (nproc: {first_line(['nproc'])})"),
        ("system", f"{os_name()}, Linux {platform.release()}"),
        ("vegas", first_line([os.path.join(a.root, "target/release/vegas"), "--version"])
         + " (release build)"),
        ("rustc", a.rustc),
        ("load average (1, 5, 15 min)", f"{a.load_before} before the runs, "
         f"{load_average()} after; the machine was not otherwise reserved"),
        ("hyperfine", first_line(["hyperfine", "--version"])),
        ("ykman", first_line([os.path.join(venv, "ykman"), "--version"])),
        ("botocore", first_line([os.path.join(venv, "python"), "-c",
                                 "import botocore; print(botocore.__version__)"])),
        ("Python", first_line([os.path.join(venv, "python"), "--version"])),
    ]

    lines = [
        "# Benchmarks",
        "",
        "The budgets of DESIGN §9, measured by `scripts/bench` (one run, as root on",
        "Debian). It builds vegas in release mode and starts, as the end-to-end tests",
        "do, a private pcscd with the vpcd reader driver, the virtual YubiKey",
        "(`examples/virtual-yubikey`, `fixtures/cards/demo.json`) and the strict local",
        "STS (`examples/local-sts`, `fixtures/sts/demo.json`), then runs hyperfine",
        "(`--shell=none`, so no shell start-up is counted) once per comparison, with",
        "the commands side by side. Ratios are median against median. This file is",
        "written by the script; rerun it to refresh the figures:",
        "",
        "```",
        "scripts/bench",
        "```",
        "",
        "## Budgets",
        "",
        "| what | goal | measured | |",
        "|---|---|---|---|",
    ]
    lines += [f"| {what} | {goal} | {got} | {verdict(met)} |" for what, goal, got, met in budgets]
    lines += [
        "",
        "## Machine",
        "",
    ]
    lines += [f"- {k}: {v}" for k, v in machine]
    lines += [
        "",
        f"The virtual card takes {a.apdu_delay_ms} ms over each APDU (`--apdu-delay`),",
        "as a YubiKey over USB CCID does, so a command that sends fewer APDUs is",
        "faster on a desk too; section 4 counts them.",
        "",
        "## 1. `vegas oath code` against ykman, on the same virtual card",
        "",
        "Both select the reader by name (ykman needs it, or it would count the empty",
        "second slot as another key) and compute the same TOTP account.",
        "",
        median_table(a.oath_json, "vegas oath code"),
        "",
        "hyperfine's own export (means; its Relative column is a ratio of means):",
        "",
        oath_table,
        "",
        "## 2. A cache hit: `vegas assume` against `/bin/true` and botocore",
        "",
        "Before timing, one `vegas assume` fetched credentials through the virtual",
        "card and the strict STS and cached them; a second call printed the same",
        "bytes. botocore's cache is a `JSONFileCache` (what the AWS CLI installs for",
        "its assume-role provider) filled, under the key botocore itself computes for",
        "a plain `role_arn`/`source_profile`/`mfa_serial` profile of the same role,",
        "with those credentials (`scripts/bench.d/prefill_botocore_cache.py`, which",
        "checks that botocore then answers from the cache without asking for a code).",
        "",
        median_table(a.assume_json, "/bin/true"),
        "",
        "hyperfine's own export (means; its Relative column is a ratio of means):",
        "",
        assume_table,
        "",
        f"During these runs the strict STS received {a.sts_calls_during_hits} AssumeRole",
        f"call(s) and the virtual card {a.apdus_during_hits} APDU(s): every timed",
        "`vegas assume` was a cache hit (and, in section 5, every served request).",
        "",
        "## 3. Peak memory of a cache hit",
        "",
        "| process | peak RSS |",
        "|---|---|",
        f"| `vegas assume` (cache hit), largest of 20 | {a.rss_vegas_kb} KiB |",
        f"| `/bin/true`, largest of 5 | {a.rss_true_kb} KiB |",
        f"| botocore's cache hit, largest of 5 | {a.rss_botocore_kb} KiB |",
        "",
        "<details><summary><code>/usr/bin/time -v</code> of one cache hit</summary>",
        "",
        "```",
        time_v,
        "```",
        "",
        "</details>",
        "",
        "## 4. APDUs per command",
        "",
        "Each command run once against the virtual card, its APDUs counted in the",
        "card's log (docs/protocol.md lists them by name).",
        "",
        "| command | APDUs |",
        "|---|---|",
        *apdu_rows,
        "",
        "## 5. A request served by `vegas serve`, against the cache-hit process",
        "",
        "`vegas serve --profile admin --token-file …` on the same warm cache; it",
        "fetched the credentials once at start (through the same flow as `vegas",
        "assume`, a cache hit here) and answers requests from them while they are",
        "valid, refreshing ahead of expiry in the background. First a",
        "whole client process per request (curl), side by side with the cache-hit",
        "`vegas assume` process and with a request the server refuses before any",
        "lookup (curl's own cost plus HTTP):",
        "",
        median_table(a.serve_json, "vegas assume (cache hit)"),
        "",
        "hyperfine's own export (means; its Relative column is a ratio of means):",
        "",
        serve_table,
        "",
        "Then from inside one client, as an SDK refreshing credentials asks:",
        f"{loop_runs} GETs back to back on one kept-alive connection",
        f"(`scripts/bench.d/serve_loop.py`): median {loop_median} ms per served",
        f"request, 90th percentile {loop_p90} ms, against {ms(vegas_hit)} for a",
        "cache-hit `vegas assume` process (section 2).",
        "",
        "## Exact commands timed",
        "",
        "`$WORK` is the run's temp directory (the pcscd socket, the caches, the",
        "AWS config with `HOME`, `AWS_CONFIG_FILE`, `VEGAS_CACHE_DIR` and",
        "`PCSCLITE_CSOCK_NAME` pointing into it).",
        "",
    ]
    for entry in a.command:
        name, command = entry.split("=", 1)
        lines += [f"- {name}:", "  ```", f"  {tidy(command)}", "  ```"]
    lines += ["- /bin/true:", "  ```", "  /bin/true", "  ```"]
    if findings:
        lines += ["", findings]
    with open(a.output, "w") as f:
        f.write("\n".join(lines) + "\n")

    print()
    print("Summary (medians):")
    for what, goal, got, met in budgets:
        print(f"  {'ok    ' if met else 'MISSED'} {what.replace('`', '')}: {got} (goal {goal})")
    print(f"  cache hits: {a.sts_calls_during_hits} STS call(s), {a.apdus_during_hits} APDU(s)")
    print(f"written: {a.output}")
    return 0 if all(met for *_, met in budgets) else 1


if __name__ == "__main__":
    sys.exit(main())
