#!/usr/bin/env python3
"""Folds a `perf record --call-graph dwarf` of iked into a per-function and
per-area profile, resolving iked's addresses with addr2line (Debian's perf 6.1
does not read the symbols of the Rust binary).

    bench/perf-fold.py perf.data /path/to/iked [N_IKE_SAS]

Prints: samples per thread, inclusive share per area (crypto, kernel
netlink/XFRM, UDP, logging, wire codec, allocator, ...), the top inclusive and
self functions. With N_IKE_SAS, shares are also given in microseconds of CPU
per IKE_SA (samples / frequency / N).
"""
import collections, re, subprocess, sys

data, binary = sys.argv[1], sys.argv[2]
n_sas = int(sys.argv[3]) if len(sys.argv) > 3 else 0
out = subprocess.run(["perf", "script", "-i", data, "-F", "comm,tid,period,ip,sym,dso"],
                     capture_output=True, text=True).stdout
samples = []  # (comm, period, [(dso, addr, sym)])
cur = None
for line in out.splitlines():
    if not line.strip():
        if cur: samples.append(cur)
        cur = None
        continue
    if not line.startswith("\t") and not line.startswith(" "):
        parts = line.split()
        # comm tid period
        cur = (parts[0], int(parts[-1]) if parts[-1].isdigit() else 1, [])
        continue
    m = re.match(r"\s*([0-9a-f]+)\s*(.*?)\s*\((.*)\)\s*$", line)
    if m and cur is not None:
        cur[2].append((m.group(3), int(m.group(1), 16), m.group(2)))
if cur: samples.append(cur)

addrs = sorted({a for _, _, fr in samples for d, a, _ in fr if d == binary or d.endswith("/iked")})
# perf prints file offsets; addr2line wants virtual addresses (the LOAD segments' mapping)
loads = []
for l in subprocess.run(["readelf", "-lW", binary], capture_output=True, text=True).stdout.splitlines():
    f = l.split()
    if f and f[0] == "LOAD":
        loads.append((int(f[1], 16), int(f[2], 16), int(f[4], 16)))
def vaddr(off):
    for o, v, sz in loads:
        if o <= off < o + sz:
            return off - o + v
    return off
names = {}
if addrs:
    r = subprocess.run(["addr2line", "-f", "-C", "-i", "-a", "-e", binary] + [hex(vaddr(a)) for a in addrs],
                       capture_output=True, text=True).stdout.splitlines()
    rev = {vaddr(a): a for a in addrs}
    i = 0; key = None
    while i < len(r):
        if r[i].startswith("0x"):
            key = rev[int(r[i], 16)]; names[key] = []; i += 1; continue
        fn = r[i]; i += 2  # function, file:line
        fn = re.sub(r"::h[0-9a-f]{16}$", "", fn)
        names[key].append(fn)

def frames(fr):
    """outermost-last list of function names of one sample (innermost first)."""
    res = []
    for d, a, s in fr:
        if a in names:
            res.extend(names[a])  # inlined: innermost first
        elif s and s != "[unknown]":
            res.append(s)
        else:
            res.append(f"{d}+{a:#x}")
    return res

AREAS = [  # (name, regex on any frame of the stack); the first area that matches wins
    ("key exchange (x25519/ECDH/MODP)", r"ike::crypto::dh|curve25519|x25519|KeyJob::run"),
    ("other crypto (prf+, SKEYSEED, AUTH, SK payload)", r"ike::crypto|aws_lc|hmac|sha2::|aes_gcm|ring::"),
    ("XFRM netlink (install, ALLOCSPI, policies)", r"^xfrm::|ike::daemon::kernel|xfrm_build|netlink"),
    ("logging (tracing, formatting, journal)", r"tracing_subscriber|tracing_core|^tracing::|daemon::logging|daemon::journal"),
    ("status / control socket", r"daemon::status|daemon::control|serde_json"),
    ("wire codec (decode/encode)", r"ike::wire"),
    ("UDP I/O", r"daemon::net|udp|sendto|sendmsg|recvmsg|recvfrom|sock_"),
    ("wakeups, channels, scheduling (innermost 12 frames)", r"futex|epoll|schedule|finish_task_switch|mpmc::|mpsc::|crossbeam|chan::|Park|park_|unpark|wake"),
    ("allocator, memcpy", r"malloc|free|memmove|memcpy|memset|realloc"),
    ("SA core (ike::sa), other", r"ike::sa::"),
    ("daemon, other", r"ike::daemon"),
]
total = sum(p for _, p, _ in samples)
by_comm = collections.Counter()
incl = collections.Counter(); selfc = collections.Counter(); area = collections.Counter()
for comm, p, fr in samples:
    by_comm[comm] += p
    fs = frames(fr)
    if fs: selfc[fs[0]] += p
    for f in set(fs): incl[f] += p
    for nm, rx in AREAS:
        depth = 12 if "innermost" in nm else len(fs)
        if any(re.search(rx, f) for f in fs[:depth]):
            area[nm] += p
            break
    else:
        area["other"] += p

def fmt(p):
    s = f"{100.0 * p / total:5.1f}%"
    if n_sas:
        # period is in ns for cpu-clock
        s += f" {p / 1000.0 / n_sas:7.1f} us/IKE_SA"
    return s
print(f"samples: {len(samples)}, total CPU {total/1e9:.3f} s" + (f", {total/1e3/n_sas:.1f} us per IKE_SA" if n_sas else ""))
print("\nby thread:")
for c, p in by_comm.most_common(): print(f"  {fmt(p)}  {c}")
print("\nby area (first matching area of the stack, in this order):")
for nm, _ in AREAS + [("other", "")]:
    print(f"  {fmt(area[nm])}  {nm}")
print("\ntop inclusive:")
for f, p in incl.most_common(60): print(f"  {fmt(p)}  {f[:150]}")
print("\ntop self:")
for f, p in selfc.most_common(40): print(f"  {fmt(p)}  {f[:150]}")

# FOCUS=regex: what the frames matching it spend their time in (their callees, 2 levels)
import os
focus = os.environ.get("FOCUS")
if focus:
    sub = collections.Counter(); ftotal = 0
    for comm, p, fr in samples:
        fs = frames(fr)
        idx = [i for i, f in enumerate(fs) if re.search(focus, f)]
        if not idx: continue
        ftotal += p
        i = idx[-1]  # the outermost match
        callees = [f for f in fs[:i] if not re.match(r"(core|alloc|std)::", f)][-2:]
        sub[" <- ".join(reversed(callees)) or "(self)"] += p
    print(f"\nFOCUS {focus}: {fmt(ftotal)}")
    for f, p in sub.most_common(40): print(f"  {fmt(p)}  {f[:200]}")
