#!/usr/bin/env python3
"""A Prometheus exporter's reads over VICI (the `vici` package from PyPI):
stats, get-pools, list-sas, list-conns, list-certs, as sergeymakinen's and
torilabs' exporters read them, printed as Prometheus text (prometheus_client).
Then rekey/redirect through the same library. usage: exporter.py SOCKET"""
import socket, sys
import vici
from prometheus_client.core import GaugeMetricFamily, CounterMetricFamily, CollectorRegistry
from prometheus_client import generate_latest

def s(v):
    return v.decode() if isinstance(v, bytes) else str(v)

class Vici:
    def __init__(self, path):
        self.path = path
    def session(self):
        so = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        so.connect(self.path)
        return vici.Session(so)
    def collect(self):
        v = self.session()
        st = v.stats()
        up = GaugeMetricFamily("ipsec_up", "VICI answered", value=1)
        yield up
        yield GaugeMetricFamily("ipsec_workers_total", "worker threads", value=int(st["workers"]["total"]))
        yield GaugeMetricFamily("ipsec_workers_idle", "idle worker threads", value=int(st["workers"]["idle"]))
        yield GaugeMetricFamily("ipsec_ike_sas", "IKE_SAs", value=int(st["ikesas"]["total"]))
        yield GaugeMetricFamily("ipsec_ike_sas_half_open", "half-open IKE_SAs", value=int(st["ikesas"]["half-open"]))
        yield GaugeMetricFamily("ipsec_scheduled_jobs", "scheduled jobs", value=int(st["scheduled"]))
        pool = GaugeMetricFamily("ipsec_pool_ips", "pool addresses", labels=["pool", "kind"])
        for name, p in v.get_pools({"leases": "yes"}).items():
            for k in ("size", "online", "offline"):
                pool.add_metric([s(name), k], int(p[k]))
        yield pool
        ike = GaugeMetricFamily("ipsec_ike_sa_established_seconds", "IKE_SA age",
            labels=["name", "uniqueid", "state", "local_host", "remote_host", "local_id", "remote_id",
                    "encr", "integ", "prf", "dh", "nat_any", "initiator"])
        child_b = CounterMetricFamily("ipsec_child_sa_bytes", "CHILD_SA bytes", labels=["ike", "child", "uniqueid", "direction"])
        child_p = CounterMetricFamily("ipsec_child_sa_packets", "CHILD_SA packets", labels=["ike", "child", "uniqueid", "direction"])
        child_i = GaugeMetricFamily("ipsec_child_sa_installed_seconds", "CHILD_SA age",
            labels=["ike", "child", "uniqueid", "state", "mode", "protocol", "encap", "encr", "integ",
                    "local_ts", "remote_ts", "spi_in", "spi_out"])
        for sa in v.list_sas():
            for name, i in sa.items():
                g = lambda k: s(i.get(k, b""))
                ike.add_metric([s(name), g("uniqueid"), g("state"), g("local-host"), g("remote-host"),
                                g("local-id"), g("remote-id"), g("encr-alg"), g("integ-alg"), g("prf-alg"),
                                g("dh-group"), g("nat-any") or "no", g("initiator") or "no"],
                               int(i.get("established", 0)))
                for cn, c in i.get("child-sas", {}).items():
                    h = lambda k: s(c.get(k, b""))
                    for d in ("in", "out"):
                        child_b.add_metric([s(name), h("name"), h("uniqueid"), d], int(c.get("bytes-" + d, 0)))
                        child_p.add_metric([s(name), h("name"), h("uniqueid"), d], int(c.get("packets-" + d, 0)))
                    child_i.add_metric([s(name), h("name"), h("uniqueid"), h("state"), h("mode"), h("protocol"),
                                        h("encap") or "no", h("encr-alg"), h("integ-alg"),
                                        ",".join(s(t) for t in c.get("local-ts", [])),
                                        ",".join(s(t) for t in c.get("remote-ts", [])),
                                        h("spi-in"), h("spi-out")], int(c.get("install-time", 0)))
        yield ike
        yield child_b
        yield child_p
        yield child_i
        conn = GaugeMetricFamily("ipsec_conn_rekey_seconds", "conn rekey_time",
            labels=["name", "local_addrs", "remote_addrs", "version", "children"])
        for c in v.list_conns():
            for name, i in c.items():
                conn.add_metric([s(name), ",".join(s(a) for a in i["local_addrs"]),
                                 ",".join(s(a) for a in i["remote_addrs"]), s(i["version"]),
                                 ",".join(s(k) for k in i["children"])], int(i["rekey_time"]))
        yield conn
        certs = GaugeMetricFamily("ipsec_certs", "certificates", labels=["type", "flag"])
        n = {}
        for c in v.list_certs({"type": "X509"}):
            k = (s(c["type"]), s(c["flag"]))
            n[k] = n.get(k, 0) + 1
        for k, c in n.items():
            certs.add_metric(list(k), c)
        yield certs

path = sys.argv[1]
reg = CollectorRegistry()
col = Vici(path)
reg.register(col)
sys.stdout.write(generate_latest(reg).decode())
v = col.session()
for cmd, arg in (("rekey", {"ike": "gw", "reauth": "yes"}), ("redirect", {"ike": "gw", "gateway": "192.0.2.9"})):
    try:
        r = getattr(v, cmd)(arg)
        print(f"# {cmd} {arg}: {dict((k, s(x)) for k, x in r.items())}")
    except vici.exception.CommandException as e:
        print(f"# {cmd} {arg}: CommandException: {e}")
