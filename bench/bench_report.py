"""How bench.py prints what it measured: the overhead table, the probe
costs and their model, and the summary against the targets
(docs/performance.md)."""
import statistics


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, spec=".3f", none="-"):
    return none if x is None else format(x, spec)


def print_overhead(res):
    print()
    print("Overhead: the workload's own elapsed time, median of rounds; ratio = traced / untraced")
    print("in the same round, median over the pairs; cpu x = the same for the workload process's CPU time.")
    hdr = (f"{'workload':<12} {'untraced':>9} {'exact':>8} {'light':>8} {'bpftrace':>9} | "
           f"{'exact x':>8} {'light x':>8} {'bpftr x':>8} | {'cpu x ex':>8} {'cpu x lt':>8} | "
           f"{'events/s ex':>11} {'events/s lt':>11} | {'B/ev ex':>7} {'B/ev lt':>7} | "
           f"{'lost':>9} | {'pairs':>5} {'load':>11}")
    print(hdr)
    print("-" * len(hdr))
    for name, r in res.items():
        v = r["variants"]
        g = lambda k, f: v.get(k, {}).get(f)  # noqa: E731
        loads = [x for d in v.values() for x in d["load"]]
        print(f"{name:<12} {fmt(g('untraced', 'elapsed')):>9} {fmt(g('exact', 'elapsed')):>8} "
              f"{fmt(g('light', 'elapsed')):>8} {fmt(g('bpftrace', 'elapsed')):>9} | "
              f"{fmt(g('exact', 'ratio'), '.2f'):>8} {fmt(g('light', 'ratio'), '.2f'):>8} "
              f"{fmt(g('bpftrace', 'ratio'), '.2f'):>8} | "
              f"{fmt(g('exact', 'cpu_ratio'), '.2f'):>8} {fmt(g('light', 'cpu_ratio'), '.2f'):>8} | "
              f"{fmt(g('exact', 'events_per_s'), ',.0f'):>11} {fmt(g('light', 'events_per_s'), ',.0f'):>11} | "
              f"{fmt(g('exact', 'bytes_per_event'), '.2f'):>7} {fmt(g('light', 'bytes_per_event'), '.2f'):>7} | "
              f"{str(g('exact', 'lost')) + '/' + str(g('light', 'lost')):>9} | "
              f"{min(d['pairs'] for k, d in v.items() if k != 'untraced'):>5} "
              + f"{min(loads):.1f}-{max(loads):.1f}".rjust(11))
    print()
    print("Spread of the per-pair ratios (quartiles q1-q3):")
    for name, r in res.items():
        v = r["variants"]
        print(f"  {name:<12} " + "  ".join(
            f"{m} {fmt(v[m].get('ratio_q1'), '.2f')}-{fmt(v[m].get('ratio_q3'), '.2f')}"
            for m in ("exact", "light", "bpftrace") if m in v))


def print_costs(c):
    print()
    print(f"Per-read cost, one thread, {c['reads']:,} os.read(fd, 1) on /dev/zero "
          f"(CPU time of the loop / reads, median; load {c['load'][0]:.1f}-{c['load'][2]:.1f}):")
    pr = c["ns_per_read_cpu"]
    for k, v in pr.items():
        extra = v - pr["untraced"] if v is not None and pr["untraced"] is not None else None
        print(f"  {k:<17} {fmt(v, '8.0f')} ns/read  (+{fmt(extra, '.0f')})  "
              f"wall {fmt(c['ns_per_read_wall'][k], '.0f')} ns/read")
    def d(a, b, n=1):
        return (pr[a] - pr[b]) / n if pr.get(a) is not None and pr.get(b) is not None else None
    # One thread never hands the GIL over: no uprobe fires in this loop
    # (exact mode probes hand-offs only); what exact adds per read is the
    # syscall tracepoints, which read the GIL and write the GIL-free call.
    derived = {
        "scheduler tracepoints, another process traced (per read)": d("other-light", "untraced"),
        "syscall tracepoints, another process traced (per syscall)": d("other-exact", "other-light"),
        "light, per read (no event: the call does not sleep)": d("light", "untraced"),
        "GIL-free call recorded (enter+exit events, per syscall)": d("exact", "untraced"),
    }
    if "bpftrace" in pr:
        derived["bpftrace libc variant (per read)"] = d("bpftrace", "untraced")
        derived["bpftrace entries variant (per read, _Py_read single-stepped)"] = d("bpftrace-entries", "untraced")
    c["derived_ns"] = derived
    print("  derived:")
    for k, v in derived.items():
        print(f"    {k:<62} {fmt(v, '7.0f')} ns")
    ps = c.get("bpf_prog_ns", {})
    for mode in ("exact", "light"):
        if mode in ps:
            print(f"  BPF program run time ({mode}; kernel BPF stats, ns per run, excludes the trap/dispatch):")
            for name, d in sorted(ps[mode].items(), key=lambda kv: -kv[1]["run_cnt"]):
                print(f"    {name:<16} {d['run_cnt']:>10,} runs  {fmt(d['ns_per_run'], '6.0f')} ns/run")


# A uprobe hit's trap and dispatch, on top of its program's run time
# (measured on the test machine: ~0.9 us a hit on a cheap instruction, of which
# the program is ~0.1-0.3 us).
UPROBE_DISPATCH_NS = 600
UPROBE_PROGS = {"on_take_gil", "on_cond_signal", "on_sem_call", "on_sem_result",
                "on_sem_post", "on_ulock_enter", "on_ulock_return", "on_ulock_release"}


def cost_model(results):
    """Probe work per second of recording, measured: the kernel's BPF
    statistics of one recording of each workload (the overhead section's
    extra run), plus a trap and dispatch per uprobe hit. A noise-free
    estimate next to the (noisy) timed ratios."""
    out = {}
    for name, r in results.get("overhead", {}).items():
        st = r.get("prog_stats") or {}
        for mode in ("exact", "light"):
            progs, wall = st.get(mode), (st.get("wall_s") or {}).get(mode)
            if not progs or not wall:
                continue
            parts = {}
            for prog, d in progs.items():
                ns = d["run_time_ns"]
                if prog in UPROBE_PROGS:
                    ns += d["run_cnt"] * UPROBE_DISPATCH_NS
                parts[prog.removeprefix("on_")] = ns / wall / 1e3  # us per second
            total = sum(parts.values())
            out.setdefault(name, {})[mode] = {"us_per_s": total, "core_percent": total / 1e4,
                                              "by_type_us_per_s": parts}
    return out


def print_cost_model(m):
    print()
    print("Cost model: probe work per second of recording, from the kernel's BPF statistics of")
    print("one recording of each workload, plus 0.6 us of trap and dispatch per uprobe hit")
    print("(% of one core; the GIL-serialized and sleeping workloads lose at most this fraction")
    print("of their elapsed time):")
    for name, modes in m.items():
        line = []
        for mode, d in modes.items():
            top = sorted(d["by_type_us_per_s"].items(), key=lambda kv: -kv[1])[:3]
            line.append(f"{mode} {d['core_percent']:6.2f} % (" +
                        ", ".join(f"{t} {v:,.0f} us/s" for t, v in top) + ")")
        print(f"  {name:<12} " + ";  ".join(line))


def verdict(x, target, q1=None):
    """ok / MISSED / unresolved when the noise straddles the target."""
    if x is None:
        return "not measured"
    if x <= target:
        return "ok"
    if q1 is not None and q1 <= target:
        return "unresolved: median above, but a quarter of the pairs at or below (noise)"
    return "MISSED"


def print_summary(res):
    print()
    print("Summary against the issue's targets (load: see each section):")
    ov = res.get("overhead", {})
    model = res.get("cost_model", {})
    for name, r in ov.items():
        t, v = r["targets"], r["variants"]
        for mode in ("exact", "light"):
            d = v.get(mode, {})
            m = model.get(name, {}).get(mode)
            extra = f"; model {m['core_percent']:.2f} % probe work" if m else ""
            print(f"  overhead {name:<12} {mode:<5} {fmt(d.get('ratio'), '.2f')}x "
                  f"(q1-q3 {fmt(d.get('ratio_q1'), '.2f')}-{fmt(d.get('ratio_q3'), '.2f')}, "
                  f"cpu {fmt(d.get('cpu_ratio'), '.2f')}x{extra}) target <= {t[mode]:.2f}x: "
                  f"{verdict(d.get('ratio'), t[mode], d.get('ratio_q1'))}")
    fixed = [r["variants"].get("exact", {}).get("fixed_cost_s") for r in ov.values()]
    fixed = [x for x in fixed if x is not None]
    if fixed:
        print(f"  (record's own start+stop, outside the workload's elapsed time: {median(fixed):.2f} s)")
    bpe = [r["variants"].get(m, {}).get("bytes_per_event") for r in ov.values() for m in ("exact", "light")]
    bpe = [x for x in bpe if x is not None]
    cap = res.get("capacity", {})
    if bpe or cap:
        allb = bpe + [cap[m]["bytes_per_event"] for m in ("exact", "light") if m in cap]
        # the target is an average: every file also carries a few KB of
        # metadata (host, process images, stack table), which dominates a
        # session of a few hundred events (light mode on a sleepy workload)
        tot = [(r["variants"][m]["bytes_total"], r["variants"][m]["events_total"])
               for r in ov.values() for m in ("exact", "light")
               if "bytes_total" in r["variants"].get(m, {})]
        tot += [(cap[m]["bytes"], cap[m]["events"]) for m in ("exact", "light")
                if m in cap and "bytes" in cap[m] and "events" in cap[m]]
        if tot and sum(e for _, e in tot):
            avg = sum(b for b, _ in tot) / sum(e for _, e in tot)
            print(f"  session size: {avg:.2f} bytes/event on average over all recorded sessions "
                  f"(per workload {min(allb):.2f}-{max(allb):.2f}) target <= 16: "
                  f"{'ok' if avg <= 16 else 'MISSED'}")
        else:
            print(f"  session size: {min(allb):.2f}-{max(allb):.2f} bytes/event target <= 16: "
                  f"{'ok' if max(allb) <= 16 else 'MISSED'}")
    for m in ("exact", "light"):
        if m in cap:
            d = cap[m]
            if d["lost"] != 0:
                v = "MISSED (events lost)"
            elif d["events_per_s"] >= 1e6 and d["span_s"] >= 9.5:
                v = "ok"
            elif m == "light":
                v = ("not offered: --light writes no event for a call that does not sleep, and "
                     "the capacity workload is a loop of such calls (the recorder's capacity is "
                     "the exact row); nothing lost")
            else:
                v = (f"not reached: the workload offered only {d['offered_per_s']:,.0f}/s on this machine "
                     f"(generation is CPU-bound: the probes); nothing lost, recorder "
                     f"{fmt(d['recorder_cores'], '.2f')} cores")
            print(f"  capacity {m}: {d['events_per_s']:,.0f} events/s for {d['span_s']:.1f} s, lost {d['lost']} "
                  f"target >= 1,000,000/s for 10 s, 0 lost: {v}")
    if "overload_1MB" in cap:
        o = cap["overload_1MB"]
        ok = o["lost"] > 0 and any(str(o["lost"]) in ln for ln in o["report_lines"])
        print(f"  beyond capacity: {o['lost']:,} lost counted and shown by report: {'ok' if ok else 'MISSED'}")
    rep = res.get("report", {})
    if "big" in rep:
        b, sm = rep["big"], rep.get("small")
        print(f"  report speed: {b['events_per_s']:,.0f} events/s ({b['events']:,} events) "
              f"target >= 10,000,000/s: {'ok' if b['events_per_s'] >= 1e7 else 'MISSED'}")
        if sm:
            print(f"  report memory: max RSS {sm['max_rss_kb'] / 1024:.1f} MB for {sm['events']:,} events, "
                  f"{b['max_rss_kb'] / 1024:.1f} MB for {b['events']:,} ({b['events'] / sm['events']:.1f}x): "
                  f"{'ok (does not grow with events)' if b['max_rss_kb'] < 1.5 * sm['max_rss_kb'] else 'MISSED'}")
    st = res.get("start")
    if st:
        print(f"  record -p start: {st['median_first_event_s'] * 1e3:.0f} ms median, "
              f"{st['max_first_event_s'] * 1e3:.0f} ms max target <= 500 ms: "
              f"{'ok' if st['max_first_event_s'] <= 0.5 else 'MISSED'}")
    idle = res.get("idle")
    if idle:
        print(f"  idle recorder: {idle['core_percent']:.2f} % of a core target < 1 %: "
              f"{'ok' if idle['core_percent'] < 1 else 'MISSED'}")
