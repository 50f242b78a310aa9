#!/usr/bin/env python3
"""A loopback stand-in for HashiCorp Vault's HTTP API, answering the documented paths a
client needs (token auth, AppRole login, token lookup/renew, KV v1 and KV v2 mounts) with
Vault's JSON and error shapes. Test-only: it lives under Tests/ and never ships.

usage: vault_standin.py PORT ROOT_TOKEN ROLE_ID SECRET_ID
env:   VAULT_STANDIN_MOUNTS  mount=kv-version list (default "secret=2,kv=1")
       VAULT_STANDIN_TTL     lease duration of tokens in seconds (default 3600)

Test control (no token, not under /v1): POST /_test/seal, POST /_test/unseal,
GET /_test/stats, POST /_test/revoke {"token": "..."}, POST /_test/delay {"seconds": N}
(every later /v1 answer waits N seconds, outside the lock, as a slow network would).
"""
import datetime
import json
import os
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PORT, ROOT_TOKEN, ROLE_ID, SECRET_ID = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
MOUNTS = {name.strip(): int(kind) for name, kind in
          (item.split("=") for item in os.environ.get("VAULT_STANDIN_MOUNTS", "secret=2,kv=1").split(",") if item)}
TTL = int(os.environ.get("VAULT_STANDIN_TTL", "3600"))

LOCK = threading.Lock()  # guards everything below
TOKENS = {ROOT_TOKEN: {"policies": ["root"], "accessor": str(uuid.uuid4())}}
STORE = {}  # (namespace, mount, path) -> v1: dict of data; v2: {"current": N, "versions": {N: {...}}}
STATE = {"sealed": False, "logins": 0, "requests": 0, "renewals": {}, "namespaces": [], "delay": 0.0}


class BadRequest(Exception):
    pass


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def err(status, *messages):
    return status, {"errors": list(messages)}


def list_keys(ns, mount, prefix):
    prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
    keys = {p[len(prefix):].split("/")[0] + ("/" if "/" in p[len(prefix):] else "")
            for (n, m, p) in STORE if n == ns and m == mount and p.startswith(prefix)}
    return (200, {"data": {"keys": sorted(keys)}}) if keys else err(404)


def kv1(method, ns, mount, path, body):
    key = (ns, mount, path)
    if method == "LIST":
        return list_keys(ns, mount, path)
    if not path:
        return err(404, 'no handler for route "%s/". route entry not found.' % mount)
    if method == "GET":
        return (200, {"data": STORE[key]}) if key in STORE else err(404)
    if method in ("POST", "PUT"):
        if not isinstance(body, dict):
            raise BadRequest("no data provided")
        STORE[key] = body
        return 204, None
    if method == "DELETE":
        STORE.pop(key, None)
        return 204, None
    return err(405, "unsupported operation")


def kv2(method, ns, mount, rest, body, query):
    kind, _, path = rest.partition("/")
    path = path.strip("/")
    key, entry = (ns, mount, path), STORE.get((ns, mount, path))
    if kind == "metadata":
        if method == "LIST":
            return list_keys(ns, mount, path)
        if method == "DELETE":
            STORE.pop(key, None)
            return 204, None
        if method != "GET" or not entry:
            return err(404) if method == "GET" else err(405, "unsupported operation")
        versions = {str(n): {k: v[k] for k in ("created_time", "deletion_time", "destroyed")}
                    for n, v in entry["versions"].items()}
        first, last = entry["versions"][min(entry["versions"])], entry["versions"][entry["current"]]
        return 200, {"data": {"current_version": entry["current"], "oldest_version": min(entry["versions"]),
                              "versions": versions, "created_time": first["created_time"],
                              "updated_time": last["created_time"], "max_versions": 0, "cas_required": False,
                              "delete_version_after": "0s", "custom_metadata": None}}
    if kind != "data" or not path:
        return err(404, 'no handler for route "%s/%s". route entry not found.' % (mount, rest))
    if method == "GET":
        try:
            wanted = int(query.get("version", ["0"])[0]) or (entry or {}).get("current")
        except ValueError:
            raise BadRequest("version must be an integer")
        version = entry and entry["versions"].get(wanted)
        if not version or version["deletion_time"] or version["destroyed"]:
            return err(404)
        meta = {k: version[k] for k in ("created_time", "deletion_time", "destroyed")}
        return 200, {"data": {"data": version["data"], "metadata": dict(meta, version=wanted)}}
    if method in ("POST", "PUT"):
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            raise BadRequest("no data provided")
        current = entry["current"] if entry else 0
        cas = (body.get("options") or {}).get("cas")
        if cas is not None and cas != current:
            raise BadRequest("check-and-set parameter did not match the current version")
        entry = STORE.setdefault(key, {"current": 0, "versions": {}})
        entry["current"] = current + 1
        meta = {"created_time": now(), "deletion_time": "", "destroyed": False}
        entry["versions"][current + 1] = dict(meta, data=body["data"])
        return 200, {"data": dict(meta, version=current + 1)}
    if method == "DELETE":
        if entry:
            entry["versions"][entry["current"]]["deletion_time"] = now()
        return 204, None
    return err(405, "unsupported operation")


def control(method, path, body):
    if method == "POST" and path in ("/_test/seal", "/_test/unseal"):
        STATE["sealed"] = path == "/_test/seal"
        return 200, {"sealed": STATE["sealed"]}
    if method == "POST" and path == "/_test/revoke":
        token = (body or {}).get("token")
        return 200, {"revoked": TOKENS.pop(token, None) is not None}
    if method == "POST" and path == "/_test/delay":
        STATE["delay"] = float((body or {}).get("seconds", 0))
        return 200, {"delay": STATE["delay"]}
    if method == "GET" and path == "/_test/stats":
        return 200, {k: STATE[k] for k in ("renewals", "logins", "namespaces", "requests")}
    return err(404)


def dispatch(method, path, query, headers, body):
    if path.startswith("/_test/"):
        return control(method, path, body)
    if not path.startswith("/v1/"):
        return err(404)
    STATE["requests"] += 1
    ns = (headers.get("X-Vault-Namespace") or "").strip("/")
    if ns and ns not in STATE["namespaces"]:
        STATE["namespaces"].append(ns)
    if STATE["sealed"]:
        return err(503, "Vault is sealed")
    rel = path[len("/v1/"):]
    if rel == "auth/approle/login" and method in ("POST", "PUT"):
        if not isinstance(body, dict) or body.get("role_id") != ROLE_ID or body.get("secret_id") != SECRET_ID:
            raise BadRequest("invalid role or secret ID")
        token, accessor = str(uuid.uuid4()), str(uuid.uuid4())
        TOKENS[token] = {"policies": ["default"], "accessor": accessor, "expires": time.time() + TTL}
        STATE["logins"] += 1
        return 200, {"auth": {"client_token": token, "accessor": accessor, "policies": ["default"],
                              "token_policies": ["default"], "lease_duration": TTL, "renewable": True}}
    token = headers.get("X-Vault-Token") or (headers.get("Authorization") or "").removeprefix("Bearer ")
    if token not in TOKENS or TOKENS[token].get("expires", float("inf")) < time.time():
        return err(403, "permission denied")
    if rel == "auth/token/lookup-self" and method == "GET":
        return 200, {"data": {"id": token, "ttl": TTL, "renewable": True,
                              "policies": TOKENS[token]["policies"], "expire_time": None}}
    if rel == "auth/token/renew-self" and method in ("POST", "PUT"):
        STATE["renewals"][token] = STATE["renewals"].get(token, 0) + 1
        return 200, {"auth": {"client_token": token, "lease_duration": TTL, "renewable": True}}
    mount, _, rest = rel.partition("/")
    if mount not in MOUNTS:
        return err(404, 'no handler for route "%s". route entry not found.' % rel)
    if method == "GET" and query.get("list", [""])[0] == "true":
        method = "LIST"
    if MOUNTS[mount] == 1:
        return kv1(method, ns, mount, rest.strip("/"), body)
    return kv2(method, ns, mount, rest, body, query)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and answers "Expect: 100-continue" before the body

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while (size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)):
                data += self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline().strip():  # trailers
                pass
            return data
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def handle_method(self):
        url = urlsplit(self.path)
        try:
            raw = self.read_body()
            try:
                body = json.loads(raw) if raw.strip() else None
            except ValueError as e:
                raise BadRequest("failed to parse JSON input: %s" % e)
            with LOCK:
                delay = STATE["delay"] if url.path.startswith("/v1/") else 0
            time.sleep(delay)
            with LOCK:
                status, payload = dispatch(self.command, url.path, parse_qs(url.query), self.headers, body)
        except BadRequest as e:
            status, payload = err(400, str(e))
        except Exception as e:  # never leave a client hanging
            status, payload = err(500, "%s: %s" % (type(e).__name__, e))
        data = b"" if status == 204 else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if status != 204:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_LIST = do_PATCH = handle_method

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
