#!/usr/bin/env python3
"""Prints the compatibility suite's results: one line per case (client, case, PASS/FAIL, first
error line), then for each failing case the statements the gateway refused while it ran (from
the wire log), then every distinct refused statement of the run. Exit 1 if any case failed."""

import argparse
import json
import os
import re
import sys


def load(path):
    out = []
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass
    return out


def describe(rec):
    cmd = rec.get("cmd", "?")
    if "sql" in rec:
        what = rec["sql"]
        if cmd == "STMT_EXECUTE":
            what = "EXECUTE of prepared `%s` with params (%s)" % (rec["sql"], ", ".join(rec.get("params", [])) or rec.get("params_raw", ""))
        elif cmd == "STMT_PREPARE":
            what = "PREPARE `%s`" % rec["sql"]
    elif "arg" in rec:
        what = "COM_%s %s" % (cmd, rec["arg"])
    else:
        what = "COM_%s" % cmd
    return " ".join(what.split())


def error_text(rec):
    if rec.get("result") == "closed":
        return "connection closed: " + rec.get("msg", "")
    if rec.get("result") == "emulated":
        return "%s (%s): %s  [probe: %s]" % (rec.get("errno", "?"), rec.get("sqlstate", ""), rec.get("msg", ""), rec.get("how", ""))
    return "%s (%s): %s" % (rec.get("errno", "?"), rec.get("sqlstate", ""), rec.get("msg", ""))


def shape(sql):
    """A statement with its literals out, to group the same statement sent with other values."""
    s = re.sub(r"'(?:[^'\\]|\\.|'')*'", "?", sql)
    s = re.sub(r"\b\d+(\.\d+)?\b", "?", s)
    return " ".join(s.split())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--wire")
    ap.add_argument("--markdown")
    args = ap.parse_args()

    results = load(args.results)
    everything = [w for w in load(args.wire) if w.get("cmd") not in ("CONNECT", "PARSER", "PROBE", "QUIT")]
    wire = [w for w in everything if w.get("result") in ("err", "closed", "emulated")]
    probe = any(w.get("result") == "emulated" for w in wire)

    def case_of(t):
        # the case whose run contains the moment the proxy saw the statement (of overlapping
        # ones, the one that started last: a runner may report a case's end late); a small
        # margin only when none does (the proxy's clock is read a moment after the client's)
        for margin in (0.0, 0.05):
            hits = [r for r in results if r["start"] - margin <= t <= r["end"] + margin]
            if hits:
                return max(hits, key=lambda r: r["start"])
        return None

    per_case = {}
    for w in wire:
        r = case_of(w.get("t", 0))
        per_case.setdefault(id(r) if r else None, []).append(w)

    lines = []
    if probe:
        lines.append("PROBE MODE: the proxy papered over refusals (marked [probe: ...]); the results below are no verdict.")
        lines.append("")
    cw = max([len("client")] + [len(r["client"]) for r in results])
    kw = max([len("case")] + [len(r["case"]) for r in results])
    header = "%-*s  %-*s  %-6s  %s" % (cw, "client", kw, "case", "result", "first error line")
    lines.append(header)
    lines.append("-" * min(len(header) + 60, 200))
    for r in results:
        lines.append("%-*s  %-*s  %-6s  %s" % (cw, r["client"], kw, r["case"], r["status"], r.get("error", "")[:220]))
    passed = sum(r["status"] == "PASS" for r in results)
    failed = sum(r["status"] == "FAIL" for r in results)
    skipped = sum(r["status"] == "SKIP" for r in results)
    lines.append("")
    lines.append("%d passed, %d failed" % (passed, failed) + (", %d skipped" % skipped if skipped else ""))

    detail = []
    fails = [r for r in results if r["status"] == "FAIL"]
    if fails:
        detail.append("")
        detail.append("Failing cases, with the statements the gateway refused while each ran:")
        for r in fails:
            detail.append("")
            detail.append("* %s / %s: %s" % (r["client"], r["case"], r.get("error", "")))
            seen = set()
            for w in per_case.get(id(r), []):
                key = (describe(w), error_text(w))
                if key in seen:
                    continue
                seen.add(key)
                detail.append("    %s" % error_text(w))
                detail.append("        <- %s" % describe(w)[:1500])
            if not seen:
                detail.append("    (no statement refused by the gateway during this case: the client's own check failed;")
                detail.append("     the last statements it sent, with what the gateway answered:)")
                mine = [w for w in everything if case_of(w.get("t", 0)) is r]
                for w in mine[-4:]:
                    detail.append("        %-5s <- %s" % (w.get("result", "?"), describe(w)[:600]))

    if wire:
        groups = {}
        for w in wire:
            key = (w.get("cmd"), shape(describe(w)), w.get("errno"))
            r = case_of(w.get("t", 0))
            g = groups.setdefault(key, {"rec": w, "clients": set(), "count": 0, "passing_only": True})
            g["count"] += 1
            if r:
                g["clients"].add(r["client"])
                if r["status"] != "PASS":
                    g["passing_only"] = False
            else:
                g["clients"].add("(between cases)")
        detail.append("")
        detail.append("Every distinct statement the gateway refused (%d), by error number:" % len(groups))
        for key, g in sorted(groups.items(), key=lambda kv: (kv[1]["rec"].get("errno") or 0, kv[0][1])):
            w = g["rec"]
            note = " [only in passing cases: expected]" if g["passing_only"] and not probe else ""
            detail.append("")
            detail.append("  %s  x%d  (%s)%s" % (error_text(w)[:400], g["count"], ", ".join(sorted(g["clients"])), note))
            detail.append("      <- %s" % describe(w)[:1500])

    text = "\n".join(lines + detail)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("# tessera compatibility suite\n\n```\n" + text + "\n```\n")
    sys.exit(1 if failed or not results else 0)


if __name__ == "__main__":
    main()
