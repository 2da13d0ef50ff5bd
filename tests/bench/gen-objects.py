#!/usr/bin/env python3
"""Creates (or deletes) benchmark objects in the local control plane.

Talks to the real kube-apiserver of hack/control-plane.sh with the admin client
certificate, 8 requests at a time on keep-alive connections (one per worker),
retrying 429 and 5xx answers with a backoff. Python standard library only.

  hack/control-plane.sh up
  eval "$(hack/control-plane.sh env)"
  kubectl apply --server-side -f crds/        # the ServicePolicy CRD
  tests/bench/gen-objects.py --pods 10000 --services 1000 --policies 1000 \\
      --nodes 4 --namespaces 10
  tests/bench/gen-objects.py --delete

What it creates, with P pods, S services, Q policies, M nodes, N namespaces:
  - namespaces <prefix>-0..N-1, labelled env=dev (even) or env=prod (odd) and
    selvedge.dev/bench=<prefix> (how --delete finds them);
  - Services svc-0..S-1 (ClusterIP allocated by the apiserver, port 80 ->
    8080, selector app=svc-<k>), in contiguous blocks: svc-k is in namespace
    k*N/S, so svc-k and svc-(k+1) mostly share a namespace;
  - Pods pod-0..P-1 in the namespace of their Service svc-(i mod S), labelled
    app=svc-(i mod S), serviceAccountName sa-(i mod 50), spec.nodeName
    <prefix>-node-(i mod M), image "pause"; then, through the status
    subresource, phase Running and Ready (container running), a podIP unique
    in 10.200.0.0/16 and the hostIP of their node (10.199.0.0/16). No Node or
    ServiceAccount objects are made (the ServiceAccount admission plugin is off);
  - one discovery.k8s.io/v1 EndpointSlice per Service (more if it has over 1000
    pods), with the ready IPs of its pods on port 8080;
  - ServicePolicies pol-0..Q-1 (selvedge.dev/v1alpha1) in the namespace of
    svc-(i mod S), with targetRef svc-(i mod S) and an ingress rule allowing
    podSelector app=svc-((i+1) mod S) on 8080/TCP; every 10th (pol-9, pol-19...)
    is instead a Deny from namespaceSelector env=dev.

--delete empties every namespace labelled selvedge.dev/bench=<prefix> (collection
DELETE of pods with grace period 0, services, endpointslices, servicepolicies)
and deletes the namespaces. No namespace controller runs in the local control
plane, so a deleted namespace would stay Terminating: once its contents are
confirmed gone, this script does the controller's last step (PUT .../finalize
with no finalizers) and the namespace disappears.

Progress and rates go to stderr. Environment: SELVEDGE_CP_DIR (default
~/.cache/selvedge/control-plane, as for hack/control-plane.sh; certificates in
its pki/), SELVEDGE_APISERVER (default https://127.0.0.1:36443).
"""

import argparse
import concurrent.futures
import http.client
import ipaddress
import json
import os
import random
import ssl
import sys
import threading
import time
import urllib.parse

BENCH_LABEL = "selvedge.dev/bench"
POLICY_API = "/apis/selvedge.dev/v1alpha1"
SLICE_API = "/apis/discovery.k8s.io/v1"
POD_NET = ipaddress.IPv4Network("10.200.0.0/16")
NODE_NET = ipaddress.IPv4Network("10.199.0.0/16")
MAX_SLICE_ENDPOINTS = 1000  # the API's limit per EndpointSlice
RETRIES = 8


def log(msg):
    print(f"{time.strftime('%H:%M:%S')} gen-objects: {msg}", file=sys.stderr, flush=True)


def decode(raw):
    """The JSON in an answer; None when there is none (e.g. "404 page not found")."""
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


class ApiError(Exception):
    def __init__(self, method, path, status, body):
        try:
            detail = json.loads(body).get("message", body)
        except (ValueError, AttributeError):
            detail = body[:500]
        super().__init__(f"{method} {path}: HTTP {status}: {detail}")
        self.status = status


class Client:
    """One keep-alive HTTPS connection per thread, shared TLS context."""

    def __init__(self, server, cp_dir):
        url = urllib.parse.urlsplit(server)
        if url.scheme != "https" or not url.hostname:
            raise SystemExit("gen-objects: SELVEDGE_APISERVER must be https://host:port, "
                             f"not {server}")
        self.host, self.port = url.hostname, url.port or 443
        pki = os.path.join(cp_dir, "pki")
        files = [os.path.join(pki, f) for f in ("ca.crt", "admin.crt", "admin.key")]
        for f in files:
            if not os.path.isfile(f):
                raise SystemExit(f"gen-objects: {f} missing: start the control plane "
                                 "(hack/control-plane.sh up) or set SELVEDGE_CP_DIR")
        self.ctx = ssl.create_default_context(cafile=files[0])
        self.ctx.load_cert_chain(files[1], files[2])
        self.local = threading.local()
        self.requests = 0
        self.retries = 0
        self.existed = 0
        self.lock = threading.Lock()

    def _conn(self):
        c = getattr(self.local, "conn", None)
        if c is None:
            c = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=120)
            self.local.conn = c
        return c

    def _drop(self):
        c = getattr(self.local, "conn", None)
        if c is not None:
            c.close()
            self.local.conn = None

    def request(self, method, path, body=None, ctype="application/json", ok=(200, 201, 202)):
        """Returns (status, decoded JSON or None). Statuses not in ok raise ApiError,
        except 429 and 5xx (and dropped connections), which are retried."""
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        headers = {"Accept": "application/json", "User-Agent": "selvedge-gen-objects"}
        if data is not None:
            headers["Content-Type"] = ctype
        for attempt in range(RETRIES + 1):
            wait = min(0.1 * 2**attempt, 5.0) * (0.5 + random.random())
            try:
                conn = self._conn()
                conn.request(method, path, body=data, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
                with self.lock:
                    self.requests += 1
                if resp.status == 429 or resp.status >= 500:
                    err = ApiError(method, path, resp.status, raw.decode(errors="replace"))
                    ra = resp.getheader("Retry-After")
                    if ra and ra.isdigit():
                        wait = max(wait, float(ra))
                    if resp.getheader("Connection", "").lower() == "close":
                        self._drop()
                elif resp.status in ok:
                    if resp.getheader("Connection", "").lower() == "close":
                        self._drop()
                    return resp.status, decode(raw)
                else:
                    raise ApiError(method, path, resp.status, raw.decode(errors="replace"))
            except (http.client.HTTPException, OSError) as e:
                # Dropped keep-alive connection, apiserver restarting: reconnect.
                self._drop()
                err = e
            if attempt == RETRIES:
                break
            with self.lock:
                self.retries += 1
            time.sleep(wait)
        raise SystemExit(f"gen-objects: giving up after {RETRIES} retries: {err}")

    def create(self, path, obj):
        """POST obj; an object that already exists (a re-run) is read back instead."""
        status, out = self.request("POST", path, obj, ok=(200, 201, 202, 409))
        if status == 409:
            with self.lock:
                self.existed += 1
            _, out = self.request("GET", f"{path}/{obj['metadata']['name']}")
        return out


def run_phase(name, client, workers, tasks):
    """Runs the callables in tasks on the pool; logs progress and the rate."""
    total = len(tasks)
    if total == 0:
        return 0.0
    t0 = time.monotonic()
    req0 = client.requests
    done = 0
    last = t0
    results = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(t) for t in tasks]
        try:
            for f in concurrent.futures.as_completed(futures):
                results.append(f.result())
                done += 1
                now = time.monotonic()
                if now - last >= 2 and done < total:
                    log(f"{name}: {done}/{total} ({done / (now - t0):.0f}/s)")
                    last = now
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    dt = time.monotonic() - t0
    log(f"{name}: {total} in {dt:.2f} s, {total / dt:.0f}/s "
        f"({client.requests - req0} requests)")
    return dt


def nth_ip(net, n):
    return str(net.network_address + n)


def check_crd(client):
    crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    status, crd = client.request("GET", f"{crds}/servicepolicies.selvedge.dev", ok=(200, 404))
    established = status == 200 and any(
        c.get("type") == "Established" and c.get("status") == "True"
        for c in crd.get("status", {}).get("conditions", []))
    if not established:
        raise SystemExit("gen-objects: the ServicePolicy CRD is not installed (or not yet "
                         "established): run  kubectl apply --server-side -f crds/")


def create(client, a):
    P, S, Q, M, N = a.pods, a.services, a.policies, a.nodes, a.namespaces
    if N < 1 and P + S + Q > 0:
        raise SystemExit("gen-objects: --namespaces must be at least 1")
    if S < 1 and P + Q > 0:
        raise SystemExit("gen-objects: pods and policies need --services of at least 1")
    if M < 1 and P > 0:
        raise SystemExit("gen-objects: pods need --nodes of at least 1")
    if P > POD_NET.num_addresses - 2 or M > NODE_NET.num_addresses - 2:
        raise SystemExit("gen-objects: too many pods or nodes for 10.200.0.0/16 / 10.199.0.0/16")
    if Q > 0:
        check_crd(client)

    pfx = a.prefix
    nss = [f"{pfx}-{j}" for j in range(N)]
    svc_ns = [nss[k * N // S] for k in range(S)]

    def pod_ip(i):
        return nth_ip(POD_NET, i + 1)

    def node_of(i):
        return i % M

    t_start = time.monotonic()
    counts = {}

    # Namespaces.
    def make_ns(j):
        return lambda: client.create("/api/v1/namespaces", {
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": nss[j], "labels": {
                "env": "dev" if j % 2 == 0 else "prod", BENCH_LABEL: pfx}}})
    run_phase("namespaces", client, a.workers, [make_ns(j) for j in range(N)])
    counts["namespaces"] = N

    # Services.
    def make_svc(k):
        return lambda: client.create(f"/api/v1/namespaces/{svc_ns[k]}/services", {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": f"svc-{k}", "labels": {"app": f"svc-{k}"}},
            "spec": {"type": "ClusterIP", "selector": {"app": f"svc-{k}"},
                     "ports": [{"name": "http", "port": 80, "targetPort": 8080,
                                "protocol": "TCP"}]}})
    run_phase("services", client, a.workers, [make_svc(k) for k in range(S)])
    counts["services"] = S

    # Pods: create, then set the status as a kubelet would.
    uids = [None] * P

    def make_pod(i):
        def task():
            k, ns, name = i % S, svc_ns[i % S], f"pod-{i}"
            out = client.create(f"/api/v1/namespaces/{ns}/pods", {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "labels": {"app": f"svc-{k}"}},
                "spec": {"serviceAccountName": f"sa-{i % 50}",
                         "nodeName": f"{pfx}-node-{node_of(i)}",
                         "containers": [{"name": "pause", "image": "pause",
                                         "ports": [{"containerPort": 8080}]}]}})
            uids[i] = out["metadata"]["uid"]
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            host = nth_ip(NODE_NET, node_of(i) + 1)
            client.request(
                "PATCH", f"/api/v1/namespaces/{ns}/pods/{name}/status",
                {"status": {
                    "phase": "Running", "startTime": now,
                    "podIP": pod_ip(i), "podIPs": [{"ip": pod_ip(i)}],
                    "hostIP": host, "hostIPs": [{"ip": host}],
                    "containerStatuses": [{
                        "name": "pause", "image": "pause", "imageID": "", "ready": True,
                        "started": True, "restartCount": 0,
                        "state": {"running": {"startedAt": now}}}],
                    "conditions": [
                        {"type": t, "status": "True", "lastTransitionTime": now}
                        for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")]}},
                ctype="application/merge-patch+json")
        return task
    run_phase("pods (create + status)", client, a.workers, [make_pod(i) for i in range(P)])
    counts["pods"] = P

    # EndpointSlices, from the pods just made.
    members = [[] for _ in range(S)]
    for i in range(P):
        members[i % S].append(i)
    slices = []
    for k in range(S):
        chunks = [members[k][c:c + MAX_SLICE_ENDPOINTS]
                  for c in range(0, len(members[k]), MAX_SLICE_ENDPOINTS)] or [[]]
        for c, pods in enumerate(chunks):
            slices.append((k, f"svc-{k}" if c == 0 else f"svc-{k}-{c}", pods))

    def make_slice(k, name, pods):
        ns = svc_ns[k]
        return lambda: client.create(f"{SLICE_API}/namespaces/{ns}/endpointslices", {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "labels": {
                "kubernetes.io/service-name": f"svc-{k}",
                "endpointslice.kubernetes.io/managed-by": "gen-objects.selvedge.dev"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{
                "addresses": [pod_ip(i)],
                "conditions": {"ready": True, "serving": True, "terminating": False},
                "nodeName": f"{pfx}-node-{node_of(i)}",
                "targetRef": {"kind": "Pod", "namespace": ns, "name": f"pod-{i}",
                              "uid": uids[i]}} for i in pods]})
    run_phase("endpointslices", client, a.workers, [make_slice(*s) for s in slices])
    counts["endpointslices"] = len(slices)

    # ServicePolicies.
    def make_pol(i):
        k = i % S
        if i % 10 == 9:
            spec = {"targetRef": {"kind": "Service", "name": f"svc-{k}"}, "action": "Deny",
                    "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"env": "dev"}}}]}]}
        else:
            peer = {"podSelector": {"matchLabels": {"app": f"svc-{(i + 1) % S}"}}}
            spec = {"targetRef": {"kind": "Service", "name": f"svc-{k}"}, "action": "Allow",
                    "ingress": [{"from": [peer], "ports": [{"port": 8080, "protocol": "TCP"}]}]}
        return lambda: client.create(f"{POLICY_API}/namespaces/{svc_ns[k]}/servicepolicies", {
            "apiVersion": "selvedge.dev/v1alpha1", "kind": "ServicePolicy",
            "metadata": {"name": f"pol-{i}"}, "spec": spec})
    run_phase("servicepolicies", client, a.workers, [make_pol(i) for i in range(Q)])
    counts["servicepolicies"] = Q

    dt = time.monotonic() - t_start
    objs = sum(counts.values())
    existed = f" ({client.existed} of them existed already)" if client.existed else ""
    log(f"created {objs} objects ({', '.join(f'{v} {k}' for k, v in counts.items())}) "
        f"in {dt:.1f} s{existed}: {objs / dt:.0f} objects/s, "
        f"{client.requests / dt:.0f} requests/s, {client.retries} retries")


def delete(client, a):
    sel = urllib.parse.quote(f"{BENCH_LABEL}={a.prefix}")
    _, lst = client.request("GET", f"/api/v1/namespaces?labelSelector={sel}")
    nss = [n["metadata"]["name"] for n in lst["items"]]
    if not nss:
        log(f"no namespaces labelled {BENCH_LABEL}={a.prefix}: nothing to delete")
        return
    status, _ = client.request("GET", POLICY_API, ok=(200, 404))
    kinds = [("pods", "/api/v1", "?gracePeriodSeconds=0"),
             ("services", "/api/v1", ""),
             ("endpointslices", SLICE_API, "")]
    if status == 200:
        kinds.append(("servicepolicies", POLICY_API, ""))
    t0 = time.monotonic()
    left = {}

    def empty(ns):
        def task():
            for kind, api, q in kinds:
                path = f"{api}/namespaces/{ns}/{kind}"
                st, _ = client.request("DELETE", path + q, ok=(200, 202, 405))
                if st == 405:  # no deletecollection for this kind: one by one
                    _, items = client.request("GET", path)
                    for it in items["items"]:
                        client.request("DELETE", f"{path}/{it['metadata']['name']}{q}",
                                       ok=(200, 202, 404))
            remaining = []
            for kind, api, _ in kinds:
                _, items = client.request("GET", f"{api}/namespaces/{ns}/{kind}?limit=1")
                if items["items"]:
                    remaining.append(kind)
            left[ns] = remaining
        return task
    run_phase("empty namespaces", client, a.workers, [empty(ns) for ns in nss])

    def drop_ns(ns):
        def task():
            st, obj = client.request("DELETE", f"/api/v1/namespaces/{ns}", ok=(200, 202, 404))
            if st == 404 or left[ns]:
                return
            # What the namespace controller does once a namespace is empty:
            # remove the "kubernetes" finalizer (retried on a write conflict).
            for _ in range(5):
                obj["spec"]["finalizers"] = []
                st, _ = client.request("PUT", f"/api/v1/namespaces/{ns}/finalize", obj,
                                       ok=(200, 201, 404, 409))
                if st != 409:
                    return
                st, obj = client.request("GET", f"/api/v1/namespaces/{ns}", ok=(200, 404))
                if st == 404:
                    return
        return task
    run_phase("delete namespaces", client, a.workers, [drop_ns(ns) for ns in nss])

    stuck = {ns: kinds for ns, kinds in left.items() if kinds}
    for ns, kinds_left in sorted(stuck.items()):
        log(f"namespace {ns} still holds {', '.join(kinds_left)}: left Terminating")
    gone = 0
    for ns in nss:
        st, _ = client.request("GET", f"/api/v1/namespaces/{ns}", ok=(200, 404))
        gone += st == 404
    log(f"deleted the contents of {len(nss)} namespaces; {gone} namespaces gone, "
        f"{len(nss) - gone} left Terminating; {time.monotonic() - t0:.1f} s")
    if stuck or gone != len(nss):
        sys.exit(1)


def main():
    p = argparse.ArgumentParser(
        description="Create or delete benchmark objects in the local control plane.",
        epilog="See the top of this file for what is created.")
    p.add_argument("--pods", type=int, default=0, metavar="N")
    p.add_argument("--services", type=int, default=0, metavar="N")
    p.add_argument("--policies", type=int, default=0, metavar="N")
    p.add_argument("--nodes", type=int, default=1, metavar="N",
                   help="node names the pods are spread over (no Node objects are made)")
    p.add_argument("--namespaces", type=int, default=1, metavar="N")
    p.add_argument("--prefix", default="bench",
                   help="namespaces are <prefix>-<i>, nodes <prefix>-node-<i> (default: bench)")
    p.add_argument("--workers", type=int, default=8, metavar="N",
                   help="requests in flight at a time (default: 8)")
    p.add_argument("--delete", action="store_true",
                   help="delete everything made with this --prefix instead of creating")
    a = p.parse_args()
    for f in ("pods", "services", "policies", "nodes", "namespaces"):
        if getattr(a, f) < 0:
            p.error(f"--{f} must not be negative")
    if a.workers < 1:
        p.error("--workers must be at least 1")
    # The same default as hack/lib.sh and hack/control-plane.sh.
    cache = os.environ.get("SELVEDGE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "selvedge")
    cp_dir = os.environ.get("SELVEDGE_CP_DIR") or os.path.join(cache, "control-plane")
    client = Client(os.environ.get("SELVEDGE_APISERVER", "https://127.0.0.1:36443"), cp_dir)
    try:
        delete(client, a) if a.delete else create(client, a)
    except ApiError as e:
        raise SystemExit(f"gen-objects: {e}")
    except KeyboardInterrupt:
        raise SystemExit("gen-objects: interrupted")


if __name__ == "__main__":
    main()
