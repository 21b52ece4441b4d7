#!/usr/bin/python3
"""Every REST route against a running server: success, each validation
error, 401 without a token, 413, unknown routes; every answer checked
against the OpenAPI description the server itself serves, and every
operation of that description exercised.

    api_check.py BASE_URL TOKEN PHASE

PHASE "main" runs everything; "persisted" checks, after a restart, that the
run-time settings changed in "main" survived.  Exits non-zero on the first
failure, naming it.
"""
import http.client
import json
import sys
import urllib.parse

import jsonschema

BASE, TOKEN, PHASE = sys.argv[1], sys.argv[2], sys.argv[3]
URL = urllib.parse.urlparse(BASE)
SPEC = None
EXERCISED = set()          # (method, path pattern) seen answered
CHECKS = 0


def fail(msg):
    print("FAILED:", msg, file=sys.stderr)
    sys.exit(1)


def request(method, path, body=None, token=TOKEN, headers=None, raw=None):
    conn = http.client.HTTPConnection(URL.hostname, URL.port, timeout=30)
    h = dict(headers or {})
    if token is not None:
        h["X-Auth-Token"] = token
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    conn.request(method, path, body=data, headers=h)
    r = conn.getresponse()
    payload = r.read()
    conn.close()
    ctype = r.getheader("Content-Type", "")
    parsed = json.loads(payload) if ctype.startswith("application/json") and payload else None
    return r.status, parsed, payload, r


# ---- the description, as JSON Schema ----

def to_jsonschema(node):
    """OpenAPI 3.0 schema objects to JSON Schema: nullable becomes a null
    alternative; references stay (they resolve inside the document)."""
    if isinstance(node, list):
        return [to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: to_jsonschema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


def pattern_of(path):
    """The spec path a concrete path answers to (a literal path first:
    /v1/blueprints/preview, not /v1/blueprints/{id})."""
    bare = path.split("?")[0]
    if bare in SPEC["paths"]:
        return bare
    parts = bare.strip("/").split("/")
    for p in SPEC["paths"]:
        pp = p.strip("/").split("/")
        if len(pp) == len(parts) and all(a == b or a.startswith("{") for a, b in zip(pp, parts)):
            return p
    return None


def check_schema(method, path, status, body):
    global CHECKS
    if SPEC is None:
        return
    pat = pattern_of(path)
    if pat is None:
        return
    op = SPEC["paths"][pat].get(method.lower())
    if op is None:
        return
    EXERCISED.add((method, pat))
    resp = op["responses"].get(str(status)) or op["responses"].get("default")
    if resp is None:
        fail("%s %s answered %d, which the description does not list" % (method, path, status))
    if "$ref" in resp:
        resp = SPEC["components"]["responses"][resp["$ref"].split("/")[-1]]
    content = resp.get("content", {}).get("application/json")
    if not content or body is None:
        return
    schema = dict(to_jsonschema(content["schema"]))
    schema["components"] = {"schemas": to_jsonschema(SPEC["components"]["schemas"])}
    try:
        jsonschema.Draft7Validator(schema).validate(body)
    except jsonschema.ValidationError as e:
        fail("%s %s (%d): the answer does not match its schema: %s at %s"
             % (method, path, status, e.message, list(e.absolute_path)))
    CHECKS += 1


def expect(method, path, status, body=None, contains=None, code=None, **kw):
    got, parsed, payload, r = request(method, path, body, **kw)
    if got != status:
        fail("%s %s: status %d, expected %d: %s" % (method, path, got, status, payload[:400]))
    if status >= 400:
        if not parsed or "error" not in parsed:
            fail("%s %s: %d without an error body: %s" % (method, path, got, payload[:200]))
        e = parsed["error"]
        if code and e["code"] != code:
            fail("%s %s: error code %s, expected %s" % (method, path, e["code"], code))
        if contains and contains not in e["message"]:
            fail("%s %s: message %r lacks %r" % (method, path, e["message"], contains))
    check_schema(method, path, got, parsed)
    return parsed if parsed is not None else payload


def invalid(method, path, body=None, contains=None):
    return expect(method, path, 400, body, contains=contains, code="INVALID")


# ---- the checks ----

def check_auth_and_routing():
    for pat, item in SPEC["paths"].items():
        for method, op in item.items():
            concrete = pat.replace("{uuid}", "6f1c3c36-1f44-4a1b-9b1e-7ab1ce1e2d10") \
                          .replace("{id}", "1")
            if op.get("security") == []:
                continue
            for token in (None, "not-a-token"):
                st, parsed, payload, r = request(method.upper(), concrete, token=token,
                                                 body={} if "requestBody" in op else None)
                if st != 401 or parsed["error"]["code"] != "UNAUTHORIZED":
                    fail("%s %s with token %r: %d, expected 401" % (method, pat, token, st))
                if "Bearer" not in (r.getheader("WWW-Authenticate") or ""):
                    fail("%s %s: 401 without WWW-Authenticate" % (method, pat))
    expect("GET", "/v1/nope", 404, code="NOT_FOUND")
    expect("GET", "/v1/host/", 404, code="NOT_FOUND")
    st, parsed, _, r = request("PATCH", "/v1/host")
    if st != 405 or "GET" not in r.getheader("Allow", ""):
        fail("PATCH /v1/host: %d, Allow %s" % (st, r.getheader("Allow")))
    # Authorization: Bearer works as well as X-Auth-Token
    st, _, _, _ = request("GET", "/v1/host", token=None,
                          headers={"Authorization": "Bearer " + TOKEN})
    if st != 200:
        fail("Authorization: Bearer refused: %d" % st)


def oversize(body):
    """Send a body over the limit on a raw socket: the server answers 413
    without reading it all and closes, which http.client cannot survive."""
    import socket
    s = socket.create_connection((URL.hostname, URL.port), timeout=30)
    head = ("POST /v1/blueprints HTTP/1.1\r\nHost: x\r\nX-Auth-Token: %s\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (TOKEN, len(body)))
    try:
        s.sendall(head.encode())
        s.sendall(body)
    except (BrokenPipeError, ConnectionResetError):
        pass
    answer = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
    except ConnectionResetError:
        pass
    s.close()
    status = int(answer.split(b" ", 2)[1]) if answer else 0
    if status != 413 or b"PAYLOAD_TOO_LARGE" not in answer:
        fail("an oversize body: %r" % answer[:300])


def check_limits():
    big = {"name": "big", "blueprint": {"resources": {"vcpu": {"p50": [0.1] * 400000}}}}
    oversize(json.dumps(big).encode())
    # a chunked body (no Content-Length) is cut off at the limit too
    conn = http.client.HTTPConnection(URL.hostname, URL.port, timeout=30)
    conn.putrequest("POST", "/v1/blueprints")
    conn.putheader("X-Auth-Token", TOKEN)
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    chunk = b" " * 65536
    try:
        for _ in range(40):
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    r = conn.getresponse()
    if r.status != 413:
        fail("chunked oversize body: %d" % r.status)
    conn.close()
    expect("POST", "/v1/blueprints", 415, raw=b"{}", headers={"Content-Type": "text/plain"},
           code="UNSUPPORTED_MEDIA_TYPE")
    st, parsed, _, _ = request("POST", "/v1/blueprints", raw=b'{"name": "x",',
                               headers={"Content-Type": "application/json"})
    if st != 400 or "not valid JSON" not in parsed["error"]["message"]:
        fail("bad JSON: %d %s" % (st, parsed))
    st, parsed, _, _ = request("POST", "/v1/blueprints", raw=b'{"a": 1, "a": 2}',
                               headers={"Content-Type": "application/json"})
    if st != 400:
        fail("duplicate keys accepted: %d" % st)
    invalid("POST", "/v1/blueprints", [], "a JSON object body is required")
    invalid("GET", "/v1/host?verbose=1", None, "unknown query parameter `verbose`")
    invalid("GET", "/v1/reshapes?limit=1&limit=2", None, "given twice")


def check_meta():
    v = expect("GET", "/v1", 200, token=None)
    assert v["version"] == "v1"
    text = expect("GET", "/metrics", 200).decode()
    for needle in ("# TYPE sculpt_api_request_duration_seconds histogram",
                   "sculpt_guests ", 'sculpt_allocated{resource="vcpu"}',
                   'sculpt_used{resource="mem_mib"}', "sculpt_reshapes_total ",
                   'sculpt_engine_decisions_total{kind="admitted"}',
                   'sculpt_guest_allocated{instance=', "sculpt_db_up 1",
                   'route="/v1/host",status="401"',
                   'sculpt_pool_reclaims_total{pool="m1.small:cirros:demo"} 2'):
        if needle not in text:
            fail("/metrics lacks %r" % needle)


def check_host():
    h = expect("GET", "/v1/host", 200)
    if h["guests"] < 1 or h["capacity"]["vcpu"] <= 0 or h["allocated"]["vcpu"] <= 0:
        fail("host figures look empty: %s" % {k: h[k] for k in ("guests", "capacity")})
    if abs(h["free"]["vcpu"] - max(0, h["capacity"]["vcpu"] - h["allocated"]["vcpu"])) > 1e-6:
        fail("free vcpu is not capacity - allocated")
    if not h["topology"]["numa_nodes"] or not h["cpu_load"]:
        fail("host topology missing")
    # the Placement inventory: the host's totals, a room Placement can use
    vcpu, mem = h["inventory"]["VCPU"], h["inventory"]["MEMORY_MB"]
    if vcpu["total"] != h["topology"]["cpus"]:
        fail("inventory VCPU total %d is not the host's %d CPUs" % (vcpu["total"],
                                                                   h["topology"]["cpus"]))
    for rc, it in h["inventory"].items():
        if not 1 <= it["min_unit"] <= it["max_unit"] <= it["total"] or it["allocation_ratio"] <= 0:
            fail("inventory %s is not one Placement takes: %s" % (rc, it))
    if mem["held"] <= 0 or vcpu["held"] <= 0:
        fail("inventory holds none of the harness's guests: %s" % h["inventory"])
    hist = expect("GET", "/v1/host/history?from=-1800", 200)
    if len(hist["t"]) < 10:
        fail("host history has %d points" % len(hist["t"]))
    invalid("GET", "/v1/host/history?from=-60&to=-120", None, "is not before")
    invalid("GET", "/v1/host/history?from=yesterday", None, "neither Unix seconds")
    return h


def check_instances():
    lst = expect("GET", "/v1/instances", 200)["instances"]
    if len(lst) < 2:
        fail("expected the harness's guests, got %d" % len(lst))
    small = expect("GET", "/v1/instances?flavor=m1.small", 200)["instances"]
    if not small or any(i["flavor"]["name"] != "m1.small" for i in small):
        fail("flavor filter")
    if expect("GET", "/v1/instances?project=nobody", 200)["instances"]:
        fail("project filter")
    invalid("GET", "/v1/instances?deleted=maybe", None, "not true or false")
    for i in lst:
        w = i["shape"]["cpu_weight"]
        if not 1 <= w <= 10000:
            fail("instance %s has CPU weight %s" % (i["uuid"], w))
    uuid = lst[0]["uuid"]
    d = expect("GET", "/v1/instances/%s?from=-1800&step=120" % uuid, 200)
    if len(d["usage"]["t"]) < 5 or not d["reshapes"] or not d["decisions"]:
        fail("instance detail lacks history: %d samples, %d reshapes, %d decisions" % (
            len(d["usage"]["t"]), len(d["reshapes"]), len(d["decisions"])))
    if d["blueprint"] is None or not d["band_history"]["t"]:
        fail("instance detail lacks its blueprint")
    steps = d["usage"]["step_s"]
    if any(s != 120 for s in steps):
        fail("usage not bucketed at the step asked: %s" % steps[:5])
    if not all(r["reason"] for r in d["reshapes"]):
        fail("a reshape without its reason")
    expect("GET", "/v1/instances/%s?from=2026-01-01T00:00:00Z&to=2026-01-01T01:00:00.5Z" % uuid,
           200)
    invalid("GET", "/v1/instances/not-a-uuid", None, "is not a UUID")
    expect("GET", "/v1/instances/6f1c3c36-1f44-4a1b-9b1e-7ab1ce1e2d10", 404, code="NOT_FOUND")
    invalid("GET", "/v1/instances/%s?from=-60&to=-3600" % uuid, None, "is not before")
    invalid("GET", "/v1/instances/%s?step=-1" % uuid, None, "outside")
    invalid("GET", "/v1/instances/%s?step=1&from=-864000" % uuid, None, "more than")
    invalid("GET", "/v1/instances/%s?limit=0" % uuid, None, "outside")
    invalid("GET", "/v1/instances/%s?from=9999999999999" % uuid, None, "ten years")
    t = expect("GET", "/v1/reshapes?from=-1800", 200)
    if not t["reshapes"] or not t["decisions"]:
        fail("reshape timeline empty")
    return lst


BP = {"name": "batch-nightly", "description": "nightly ETL",
      "match": {"flavor": "m1.large", "project_id": "demo"},
      "blueprint": {"step_s": 60, "horizon_s": 600, "confidence": 0.9,
                    "resources": {"vcpu": {"p50": 1.0, "p90": [1.5] * 10, "p99": 2.0},
                                  "mem_mib": {"p50": 3000, "p99": 4000}}}}


def bp_with(**changes):
    b = json.loads(json.dumps(BP))
    for k, v in changes.items():
        cur = b
        keys = k.split("__")
        for kk in keys[:-1]:
            cur = cur[kk]
        if v is None:
            del cur[keys[-1]]
        else:
            cur[keys[-1]] = v
    return b


def check_blueprints():
    st, created, _, r = request("POST", "/v1/blueprints", BP)
    if st != 201:
        fail("create blueprint: %d %s" % (st, created))
    check_schema("POST", "/v1/blueprints", st, created)
    loc = r.getheader("Location")
    if loc != "/v1/blueprints/%d" % created["id"]:
        fail("Location %r" % loc)
    got = expect("GET", loc, 200)
    if got["blueprint"]["resources"]["vcpu"]["p90"] != [1.5] * 10 or got["blueprint"]["nsteps"] != 10:
        fail("the stored blueprint differs: %s" % got["blueprint"])
    lst = expect("GET", "/v1/blueprints", 200)["blueprints"]
    if not any(b["id"] == created["id"] for b in lst):
        fail("created blueprint not listed")
    expect("POST", "/v1/blueprints", 409, BP, code="CONFLICT")
    upd = bp_with(description="changed", blueprint__confidence=0.5)
    if expect("PUT", loc, 200, upd)["description"] != "changed":
        fail("update not applied")

    bad = [
        (bp_with(name=None), "`name` is required"),
        (bp_with(name="no spaces"), "is not 1 to 64"),
        (bp_with(extra=1), "unknown member `extra`"),
        (bp_with(blueprint__resources__vcpu__p50=-1), "is -1"),
        (bp_with(blueprint__resources__vcpu__p50="lots"), "expected a number"),
        (bp_with(blueprint__resources__vcpu__p99=0.5), "bands out of order"),
        (bp_with(blueprint__horizon_s=90), "not a whole number of steps"),
        (bp_with(blueprint__step_s=0), "`blueprint.step_s` is 0"),
        (bp_with(blueprint__horizon_s=None, blueprint__nsteps=20000), "`blueprint.nsteps` is 20000"),
        (bp_with(blueprint__resources__vcpu__p90=[1.5] * 3), "has 3 values"),
        (bp_with(blueprint__resources__gpu={"p50": 1}), "is not a resource"),
        (bp_with(blueprint__confidence=2), "`blueprint.confidence` is 2"),
        (bp_with(blueprint__start=1), "unknown member `blueprint.start`"),
        (bp_with(match__host="x"), "unknown member `match.host`"),
        (bp_with(blueprint__resources__vcpu__p50=1e300), "must be 0 to"),
    ]
    for body, msg in bad:
        invalid("POST", "/v1/blueprints", body, msg)
    invalid("PUT", loc, bp_with(blueprint__resources__vcpu__p50=-2), "is -2")
    invalid("GET", "/v1/blueprints/abc", None, "not a blueprint id")
    invalid("GET", "/v1/blueprints/0", None, "not a blueprint id")
    expect("GET", "/v1/blueprints/999999", 404, code="NOT_FOUND")
    expect("PUT", "/v1/blueprints/999999", 404, BP, code="NOT_FOUND")
    expect("DELETE", "/v1/blueprints/999999", 404, code="NOT_FOUND")

    # preview: the predictor for a class without a custom blueprint, the
    # custom blueprint for the class it names
    p = expect("GET", "/v1/blueprints/preview?flavor=m1.small&vcpus=1&memory_mb=2048&project=demo"
                      "&metadata=tier%3Dweb", 200)
    if p["source"] != "predictor" or p["blueprint"]["nsteps"] != 30:
        fail("preview: %s, %s steps" % (p["source"], p["blueprint"]["nsteps"]))
    p = expect("GET", "/v1/blueprints/preview?flavor=m1.large&vcpus=4&memory_mb=8192&project=demo"
                      "&horizon=600&step=60", 200)
    if p["source"] != "custom:batch-nightly":
        fail("preview ignored the matching custom blueprint: %s" % p["source"])
    invalid("GET", "/v1/blueprints/preview?flavor=x", None, "are required")
    invalid("GET", "/v1/blueprints/preview?vcpus=1&memory_mb=-5", None, "outside")
    invalid("GET", "/v1/blueprints/preview?vcpus=1&memory_mb=5&metadata=novalue", None,
            "expected key=value")
    invalid("GET", "/v1/blueprints/preview?vcpus=1&memory_mb=5&horizon=100&step=60", None,
            "whole steps")
    return created["id"], loc


def check_placement_and_cost(bp_id):
    req = {"flavor": {"name": "m1.small", "vcpus": 1, "memory_mb": 2048}, "project_id": "demo",
           "image": "cirros"}
    c = expect("POST", "/v1/placement/candidates", 200, req)
    if not c["placeable"] or c["shape"] is None or c["shape"]["res"]["vcpu"] <= 0:
        fail("a small guest should fit: %s" % c)
    huge = {"flavor": {"name": "huge", "vcpus": 512, "memory_mb": 4 << 20}}
    c = expect("POST", "/v1/placement/candidates", 200, huge)
    if c["placeable"] or not c["refusal"] or c["refusal"]["by"] <= 0:
        fail("a huge guest should be refused with what is short: %s" % c.get("refusal"))
    inline = dict(req, blueprint={"nsteps": 5, "resources": {"vcpu": {"p50": 0.5, "p99": 0.9},
                                                             "mem_mib": {"p50": 1000}}})
    c = expect("POST", "/v1/placement/candidates", 200, inline)
    if c["source"] != "request" or c["blueprint"]["nsteps"] != 5:
        fail("inline blueprint not used: %s" % c["source"])
    c = expect("POST", "/v1/placement/candidates", 200, dict(req, blueprint_id=bp_id))
    if c["source"] != "custom:batch-nightly":
        fail("blueprint_id not used: %s" % c["source"])
    invalid("POST", "/v1/placement/candidates", {}, "`flavor` is required")
    invalid("POST", "/v1/placement/candidates", {"flavor": {"vcpus": 0, "memory_mb": 1}},
            "`flavor.vcpus` is 0")
    invalid("POST", "/v1/placement/candidates", {"flavor": {"vcpus": 1}},
            "`flavor.memory_mb` is required")
    invalid("POST", "/v1/placement/candidates", dict(req, uuid="nope"), "not a UUID")
    invalid("POST", "/v1/placement/candidates", dict(inline, blueprint_id=bp_id), "not both")
    invalid("POST", "/v1/placement/candidates", dict(req, blueprint_id="7"), "expected an integer")
    invalid("POST", "/v1/placement/candidates", dict(req, gpus=1), "unknown member `gpus`")
    expect("POST", "/v1/placement/candidates", 404, dict(req, blueprint_id=999999),
           code="NOT_FOUND")

    e = expect("POST", "/v1/cost/estimate", 200, req)
    s, f = e["sculpted"], e["static"]
    if not (s["total"] > 0 and f["total"] > 0 and abs(e["saving"] - (f["total"] - s["total"])) < 1e-9):
        fail("cost estimate terms: %s / %s" % (s["total"], f["total"]))
    if s["resource"]["vcpu"] >= f["resource"]["vcpu"]:
        fail("sculpting a half-idle guest should cost less vCPU than its flavor")
    e2 = expect("POST", "/v1/cost/estimate", 200, dict(req, presculpted_s=600))
    if e2["sculpted"]["idle"] <= 0:
        fail("presculpted time should cost idle capacity")
    invalid("POST", "/v1/cost/estimate", dict(req, presculpted_s=-1), "`presculpted_s` is -1")
    so = expect("GET", "/v1/cost?from=-1800", 200)
    if so["guest_hours"] <= 0 or so["total"] <= 0 or so["terms"]["resource"] <= 0:
        fail("cost so far is empty: %s" % so)
    invalid("GET", "/v1/cost?from=-10&to=-20", None, "is not before")


def check_pools():
    p = expect("GET", "/v1/pools", 200)
    pool = next((x for x in p["pools"] if x["key"] == "m1.small:cirros:demo"), None)
    if not pool or pool["size"] != 1 or pool["hits"] != 1 or pool["misses"] != 1 \
            or pool["reclaims"] != 2 or p["totals"]["reclaims"] < 2 \
            or abs(pool["hit_rate"] - 0.5) > 1e-9 or pool["idle"]["vcpu"] != 0.5:
        fail("the harness's pool is not reported as recorded: %s" % pool)
    h = expect("GET", "/v1/pools/history?from=-7200&step=600", 200)
    if len(h["t"]) != 12 or sum(h["arrivals"]) < 2 or sum(h["hits"]) != 1 \
            or max(h["pool_size"]) != 2:
        fail("pool history: %d buckets, %d arrivals, %d hits, %d members at most" % (
            len(h["t"]), sum(h["arrivals"]), sum(h["hits"]), max(h["pool_size"])))
    invalid("GET", "/v1/pools/history?step=0", None, "outside")
    invalid("GET", "/v1/pools/history?from=-864000&step=1", None, "more than 20000")


def check_events():
    """The event log the harness seeded (tests/harness/api-harness.c
    seed_events): a build per guest an hour ago, a memory hot-plug that
    caught up and one that stalled."""
    import time
    allev = expect("GET", "/v1/events", 200)
    evs = allev["events"]
    if allev["limit"] != 100 or len(evs) < 6 or allev["more"]:
        fail("GET /v1/events: %d events, limit %s, more %s" % (len(evs), allev["limit"],
                                                                allev["more"]))
    ats = [(e["at"], e["id"]) for e in evs]
    if ats != sorted(ats, reverse=True):
        fail("events are not newest first: %s" % ats[:8])
    stalled = [e for e in evs if e["action"] == "memory.plug-stalled"]
    plugged = [e for e in evs if e["action"] == "memory.caught-up"]
    if len(stalled) != 1 or stalled[0]["code"] != "TIMEOUT" or len(plugged) != 1 \
            or plugged[0]["code"] != "OK" or not plugged[0]["instance"]:
        fail("the seeded memory events: %s" % [(e["action"], e["code"]) for e in evs])
    uuid = plugged[0]["instance"]
    mine = expect("GET", "/v1/events?instance=%s" % uuid, 200)["events"]
    if sorted(e["action"] for e in mine) != ["build_and_run_instance", "memory.caught-up"] \
            or any(e["instance"] != uuid for e in mine):
        fail("instance filter: %s" % [(e["instance"], e["action"]) for e in mine])
    mem = expect("GET", "/v1/events?action=memory.", 200)["events"]
    if len(mem) != 2 or any(not e["action"].startswith("memory.") for e in mem):
        fail("action prefix filter: %s" % [e["action"] for e in mem])
    failed = expect("GET", "/v1/events?code=FAILED", 200)["events"]
    if not failed or any(e["code"] == "OK" for e in failed) \
            or "memory.plug-stalled" not in [e["action"] for e in failed]:
        fail("code=FAILED: %s" % [(e["action"], e["code"]) for e in failed])
    t = expect("GET", "/v1/events?code=TIMEOUT&source=hypervisor", 200)["events"]
    if [e["action"] for e in t] != ["memory.plug-stalled"]:
        fail("code=TIMEOUT&source=hypervisor: %s" % [e["action"] for e in t])
    if expect("GET", "/v1/events?source=hypervisor&code=OK&action=build", 200)["events"]:
        fail("filters are not combined")
    r = expect("GET", "/v1/events?request_id=req-harness-0", 200)["events"]
    if len(r) != 1 or r[0]["request_id"] != "req-harness-0" or r[0]["duration_ms"] != 812:
        fail("request_id filter: %s" % r)
    one = expect("GET", "/v1/events?limit=1", 200)
    if len(one["events"]) != 1 or not one["more"] or one["events"][0]["id"] != evs[0]["id"]:
        fail("limit=1: %s" % one)
    # the seeded events are an hour old: none in the last ten minutes, all
    # in the hour before
    now = int(time.time())
    recent = expect("GET", "/v1/events?from=-600", 200)["events"]
    if any(e["at"] < now - 600 - 5 for e in recent) or any(e in recent for e in mine):
        fail("from=-600 returned older events")
    window = expect("GET", "/v1/events?from=-7200&to=-600&instance=%s" % uuid, 200)["events"]
    if len(window) != 2:
        fail("from/to window: %d events" % len(window))
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 600))
    if len(expect("GET", "/v1/events?to=%s&instance=%s" % (iso, uuid), 200)["events"]) != 2:
        fail("an ISO 8601 `to`")
    invalid("GET", "/v1/events?instance=not-a-uuid", None, "is not a UUID")
    invalid("GET", "/v1/events?from=yesterday", None, "neither Unix seconds")
    invalid("GET", "/v1/events?from=-60&to=-120", None, "is not before")
    invalid("GET", "/v1/events?limit=0", None, "outside [1, 1000]")
    invalid("GET", "/v1/events?limit=1001", None, "outside [1, 1000]")
    invalid("GET", "/v1/events?limit=many", None, "is not an integer")
    invalid("GET", "/v1/events?code=SLOW", None, "is not OK, FAILED or an error code")
    invalid("GET", "/v1/events?source=Nova!", None, "is not a source name")
    invalid("GET", "/v1/events?kind=memory", None, "unknown query parameter `kind`")
    return uuid


def check_config():
    c = expect("GET", "/v1/config/cost", 200)
    if "price_vcpu_hour" not in c["values"] or c["options"]["price_vcpu_hour"]["type"] != "number":
        fail("cost config: %s" % list(c["values"]))
    new = expect("PUT", "/v1/config/cost", 200, {"price_vcpu_hour": 0.05, "price_reshape": 0.0002})
    if new["values"]["price_vcpu_hour"] != 0.05 or "price_vcpu_hour" not in new["overrides"]:
        fail("cost change not applied: %s" % new["values"]["price_vcpu_hour"])
    if not new["persisted"]:
        fail("cost change not persisted")
    if expect("GET", "/v1/config/cost", 200)["values"]["price_vcpu_hour"] != 0.05:
        fail("cost change not visible")
    # the estimate uses the new price at once
    e = expect("POST", "/v1/cost/estimate", 200,
               {"flavor": {"vcpus": 1, "memory_mb": 1024}})
    if e["prices"]["price_per_hour"]["vcpu"] != 0.05:
        fail("the cost estimate still uses the old price")
    p = expect("GET", "/v1/config/predictor", 200)
    if "sculpt.target_violation_rate" not in p["values"]:
        fail("predictor config lacks sculpt.target_violation_rate: %s" % list(p["values"]))
    expect("PUT", "/v1/config/predictor", 200, {"sculpt.target_violation_rate": 0.02})
    ps = expect("GET", "/v1/config/presculpt", 200)
    if ps["values"]:
        name, value = next((k, v) for k, v in ps["values"].items()
                           if ps["options"][k]["type"] in ("integer", "number"))
        expect("PUT", "/v1/config/presculpt", 200, {name: value})
    # the way back to sculpt.conf: the run-time changes removed, the file's
    # values in force at once
    for path, name, changed in (("/v1/config/cost", "price_vcpu_hour", 0.05),
                                ("/v1/config/predictor", "sculpt.target_violation_rate", 0.02)):
        r = expect("DELETE", path, 200)
        if r["overrides"] or r["values"][name] == changed:
            fail("DELETE %s: %s is %s, overrides %s" % (path, name, r["values"][name],
                                                        list(r["overrides"])))
        if expect("GET", path, 200)["values"][name] == changed:
            fail("DELETE %s: %s still %s" % (path, name, changed))
    if c["values"]["price_vcpu_hour"] != expect("GET", "/v1/config/cost", 200)["values"]["price_vcpu_hour"]:
        fail("DELETE /v1/config/cost: price_vcpu_hour not back to sculpt.conf's")
    e = expect("POST", "/v1/cost/estimate", 200, {"flavor": {"vcpus": 1, "memory_mb": 1024}})
    if e["prices"]["price_per_hour"]["vcpu"] == 0.05:
        fail("the cost estimate still uses the reset price")
    if expect("DELETE", "/v1/config/presculpt", 200)["overrides"]:
        fail("DELETE /v1/config/presculpt left overrides")
    # again for the restart phase ("persisted")
    expect("PUT", "/v1/config/cost", 200, {"price_vcpu_hour": 0.05, "price_reshape": 0.0002})
    invalid("PUT", "/v1/config/presculpt", {"no_such_option": 1}, "not an option of [presculpt]")
    invalid("PUT", "/v1/config/cost", {"price_vcpu_hour": "cheap"}, "expected a number")
    invalid("PUT", "/v1/config/cost", {"price_vcpu_hour": -1}, "price_vcpu_hour")
    invalid("PUT", "/v1/config/cost", {"price_gpu_hour": 1}, "not an option of [cost]")
    invalid("PUT", "/v1/config/cost", {}, "no option to change")
    invalid("PUT", "/v1/config/predictor", {"api.admin_token": "x"}, "not an option here")
    invalid("PUT", "/v1/config/predictor", {"sculpt.blueprint_step": 1.5}, "expected an integer")


def check_audit(bp_id):
    """Operator changes in the event log (source "api"): each config change
    and reset with its keys and old -> new values, who made it, the
    outcome; refused changes with what they asked; blueprint changes."""
    st, _, payload, r = request("PUT", "/v1/config/cost", {"price_reshape": 0.0004})
    if st != 200:
        fail("PUT /v1/config/cost: %d %s" % (st, payload[:200]))
    rid = r.getheader("X-OpenStack-Request-Id")
    evs = expect("GET", "/v1/events?source=api&request_id=%s" % rid, 200)["events"]
    if len(evs) != 1:
        fail("the change %s is %d events, not 1" % (rid, len(evs)))
    e = evs[0]
    want = "PUT /v1/config/cost by admin-token: [cost] price_reshape 0.0002 -> 0.0004"
    if e["action"] != "config.set" or e["code"] != "OK" or e["message"] != want \
            or e["instance"] is not None or e["duration_ms"] <= 0:
        fail("config.set event: %s" % e)
    api = expect("GET", "/v1/events?source=api&limit=1000", 200)["events"]
    if any(x["source"] != "api" or not x["request_id"].startswith("req-") for x in api):
        fail("source=api: %s" % [(x["source"], x["request_id"]) for x in api])

    def having(action, code, *parts):
        return [x for x in api if x["action"] == action and x["code"] == code
                and all(p in x["message"] for p in parts)]
    # check_config's changes, oldest last
    for action, code, parts in (
            ("config.set", "OK", ("PUT /v1/config/cost by admin-token: ",
                                  "[cost] price_vcpu_hour ", " -> 0.05", "[cost] price_reshape ")),
            ("config.set", "OK", ("PUT /v1/config/predictor", "[sculpt] target_violation_rate ",
                                  " -> 0.02")),
            ("config.reset", "OK", ("DELETE /v1/config/cost by admin-token: ",
                                    "[cost] price_vcpu_hour 0.05 -> ")),
            ("config.reset", "OK", ("DELETE /v1/config/predictor",
                                    "[sculpt] target_violation_rate 0.02 -> ")),
            ("config.reset", "OK", ("DELETE /v1/config/presculpt",)),
            ("config.set", "INVALID", ('asked price_vcpu_hour="cheap"; failed: ',
                                       "expected a number")),
            ("config.set", "INVALID", ("asked price_gpu_hour=1; failed: ",
                                       "not an option of [cost]")),
            ("config.set", "INVALID", ("PUT /v1/config/cost by admin-token: failed: ",
                                       "no option to change")),
            ("blueprint.create", "OK", ("POST /v1/blueprints by admin-token: blueprint %d; "
                                        "name batch-nightly, for flavor m1.large, image any, "
                                        "project demo, 10 step(s) of 60 s" % bp_id,)),
            ("blueprint.create", "CONFLICT", ("name batch-nightly", "failed: ")),
            ("blueprint.create", "INVALID", ("failed: ", "unknown member `extra`")),
            ("blueprint.replace", "OK", ("PUT /v1/blueprints/%d " % bp_id,
                                         "blueprint %d; name batch-nightly" % bp_id)),
            ("blueprint.replace", "NOT_FOUND", ("PUT /v1/blueprints/999999 ", "failed: ")),
            ("blueprint.delete", "OK", ("DELETE /v1/blueprints/%d " % bp_id,
                                        "blueprint %d; name batch-nightly" % bp_id)),
            ("blueprint.delete", "NOT_FOUND", ("blueprint 999999; failed: ",))):
        if not having(action, code, *parts):
            fail("no %s %s event with %s among: %s" % (
                action, code, parts,
                [(x["action"], x["code"], x["message"]) for x in api if x["action"] == action]))
    # the prefix filter finds them, reads are not in the log
    cfg = expect("GET", "/v1/events?action=config.", 200)["events"]
    if not cfg or any(not x["action"].startswith("config.") for x in cfg):
        fail("action=config.: %s" % [x["action"] for x in cfg])
    if any(x["message"].startswith("GET ") for x in api):
        fail("a read in the event log: %s" % [x["message"] for x in api if x["message"].startswith("GET ")])


def check_openapi_coverage():
    missing = []
    for pat, item in SPEC["paths"].items():
        for method in item:
            if (method.upper(), pat) not in EXERCISED:
                missing.append("%s %s" % (method.upper(), pat))
    if missing:
        fail("operations of the description never exercised: %s" % missing)


def main():
    global SPEC
    spec = expect("GET", "/v1/openapi.json", 200, token=None)
    SPEC = spec
    EXERCISED.add(("GET", "/v1/openapi.json"))
    # the description itself: OpenAPI 3.0, every schema well-formed, one
    # operationId per operation
    if not spec["openapi"].startswith("3.0"):
        fail("openapi version %s" % spec["openapi"])
    for name, schema in spec["components"]["schemas"].items():
        try:
            jsonschema.Draft7Validator.check_schema(to_jsonschema(schema))
        except jsonschema.SchemaError as e:
            fail("schema %s is not valid: %s" % (name, e.message))
    ids = [op["operationId"] for item in spec["paths"].values() for op in item.values()]
    if len(ids) != len(set(ids)):
        fail("operationIds repeat: %s" % sorted(ids))
    if PHASE == "persisted":
        c = expect("GET", "/v1/config/cost", 200)
        if c["values"]["price_vcpu_hour"] != 0.05:
            fail("after a restart price_vcpu_hour is %s, not the 0.05 set at run time"
                 % c["values"]["price_vcpu_hour"])
        print("api_check: run-time settings survived the restart")
        return
    check_auth_and_routing()
    check_limits()
    check_meta()
    check_host()
    check_instances()
    bp_id, loc = check_blueprints()
    check_placement_and_cost(bp_id)
    check_pools()
    check_events()
    check_config()
    expect("DELETE", loc, 204)
    expect("GET", loc, 404, code="NOT_FOUND")
    check_audit(bp_id)
    check_openapi_coverage()
    print("api_check: %d answers matched their schema; every operation exercised" % CHECKS)


main()
