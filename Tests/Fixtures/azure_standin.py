#!/usr/bin/env python3
"""A loopback stand-in for Microsoft Entra ID's token endpoint, the Azure instance metadata
service (managed identity) and one Azure Key Vault's secrets API, written from the documented
REST API. Test-only: it never ships.

It checks what the real services check where a client could get it wrong:
  * tokens (POST /{tenant}/oauth2/v2.0/token, form-encoded): the tenant, client ID, client
    secret, grant type and scope (a known vault resource + "/.default"); answers Entra ID's
    OAuth error shapes ({"error", "error_description": "AADSTS…"}); issues opaque bearer tokens
    with an expiry (token_lifetime) and an audience (the scope's resource);
  * managed identity (GET /metadata/identity/oauth2/token): the "Metadata: true" header, the
    api-version, the resource, and the user-assigned identity's client_id; expires_in as a string;
  * the vault (/secrets…, /deletedsecrets…): api-version=7.4 exactly, a valid unexpired bearer
    token for the vault's audience (401 with WWW-Authenticate otherwise), the name pattern
    ^[0-9a-zA-Z-]{1,127}$ compared without regard to case, values up to 25600 characters,
    versions (a new 32-hex-digit version per PUT, GET by version), soft-delete (a deleted name
    cannot be reused until purged or recovered: 409 ObjectIsDeletedButRecoverable), purge,
    recover, and Key Vault's error shape {"error": {"code", "message", "innererror"}}.

Faults and inspection through /_test/… (no authentication):
  POST /_test/config    JSON merged into the settings below, answered with all of them
  GET  /_test/stats     tokens issued, requests, 401s, 429s and 5xx given, by operation
  GET  /_test/secrets   every secret and deleted secret with every version, values included
  POST /_test/revoke    every token issued so far is refused from now on

usage: azure_standin.py PORT   (identities from the environment, see IDENTITY below)
"""
import json
import os
import re
import secrets as randomness
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PORT = int(sys.argv[1])
IDENTITY = {
    "tenant": os.environ["AZURE_STANDIN_TENANT"],
    "tenant_domain": os.environ.get("AZURE_STANDIN_TENANT_DOMAIN", "secretfs-test.onmicrosoft.com"),
    "client_id": os.environ["AZURE_STANDIN_CLIENT_ID"],
    "client_secret": os.environ["AZURE_STANDIN_CLIENT_SECRET"],
    # The host's identities: the system-assigned one and one user-assigned one.
    "system_identity": os.environ.get("AZURE_STANDIN_SYSTEM_IDENTITY", "system-assigned"),
    "user_identity": os.environ.get("AZURE_STANDIN_USER_IDENTITY", ""),
}
RESOURCES = {"https://vault.azure.net", "https://vault.usgovcloudapi.net", "https://vault.azure.cn"}
NAME = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
MAX_VALUE = 25600

lock = threading.Lock()
config = {
    "token_lifetime": 3599,          # seconds a token lives (expires_in)
    "token_delay": 0.0,              # seconds the token endpoints wait before answering
    "audience": "https://vault.azure.net",  # the audience this vault accepts
    "throttle": 0,                   # the next N vault requests get 429
    "retry_after": "1",              # their Retry-After header ("" for none)
    "fail": 0,                       # the next N vault requests get 503
    "delay": 0.0,                    # seconds every vault request waits before it is answered
    "forbid": [],                    # operations refused with 403: get, set, list, delete, purge, recover
    "purge_protection": False,       # purges refused with 403, as a vault with purge protection does
    "delete_delay": 0.0,             # seconds a delete takes: meanwhile purge, recover and set get 409
}
tokens = {}                          # token -> {"audience", "expires", "principal"}
live = {}                            # lower-case name -> {"name", "versions": [version, ...]}
deleted = {}                         # lower-case name -> {"name", "versions", "deleted", "settles"}
stats = {"tokens_issued": 0, "client_secret_tokens": 0, "managed_identity_tokens": 0, "vault_requests": 0,
         "unauthorized": 0, "throttled": 0, "failed": 0, "operations": {}}


def aad_error(status, error, code, description):
    # Entra ID's description carries trace and correlation IDs on further lines.
    stamp = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
    text = f"AADSTS{code}: {description}\r\nTrace ID: {randomness.token_hex(8)}\r\nCorrelation ID: {randomness.token_hex(8)}\r\nTimestamp: {stamp}"
    return status, {"error": error, "error_description": text, "error_codes": [code], "timestamp": stamp}


def vault_error(status, code, message, inner=None):
    body = {"error": {"code": code, "message": message}}
    if inner:
        body["error"]["innererror"] = {"code": inner}
    return status, body


def not_found(name, version=""):
    return vault_error(404, "SecretNotFound", f"A secret with (name/id) {name}{'/' + version if version else ''} was not found in this key vault. "
                       "If you recently deleted this secret you may be able to recover it using the correct recovery command. "
                       "For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182")


def attributes(version):
    return {"enabled": True, "created": version["created"], "updated": version["created"],
            "recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    # MARK: plumbing

    def reply(self, status, body=None, headers=()):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def base(self):
        return f"http://{self.headers.get('Host', f'127.0.0.1:{PORT}')}"

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_PUT(self):
        self.route("PUT")

    def do_DELETE(self):
        self.route("DELETE")

    def route(self, method):
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        body = self.body()
        parts = [part for part in url.path.split("/")]
        try:
            if url.path.startswith("/_test/"):
                return self.reply(*self.control(method, url.path, body))
            if len(parts) == 5 and parts[2:] == ["oauth2", "v2.0", "token"]:
                time.sleep(float(config["token_delay"]))
                return self.reply(*self.token(method, parts[1], body))
            if url.path == "/metadata/identity/oauth2/token":
                time.sleep(float(config["token_delay"]))
                return self.reply(*self.managed_identity(method, query))
            if len(parts) >= 2 and parts[1] in ("secrets", "deletedsecrets"):
                answer = self.vault(method, parts[1:], query, body)
                return self.reply(*answer)
            self.reply(404, {"error": {"code": "NotFound", "message": f"no such path {url.path}"}})
        except BrokenPipeError:
            pass

    # MARK: Entra ID

    def token(self, method, tenant, body):
        if method != "POST":
            return aad_error(405, "invalid_request", 900561, "The endpoint only accepts POST requests.")
        if not (self.headers.get("Content-Type") or "").startswith("application/x-www-form-urlencoded"):
            return aad_error(400, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
        form = {key: values[0] for key, values in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        if tenant not in (IDENTITY["tenant"], IDENTITY["tenant_domain"]):
            return aad_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.")
        if form.get("grant_type") != "client_credentials":
            return aad_error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
        if form.get("client_id") != IDENTITY["client_id"]:
            return aad_error(400, "unauthorized_client", 700016, f"Application with identifier '{form.get('client_id')}' was not found in the directory '{tenant}'.")
        if form.get("client_secret") != IDENTITY["client_secret"]:
            return aad_error(401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, "
                             f"not the client secret ID, for a secret added to app '{IDENTITY['client_id']}'.")
        scope = form.get("scope", "")
        resource = scope[: -len("/.default")] if scope.endswith("/.default") else None
        if resource not in RESOURCES:
            return aad_error(400, "invalid_scope", 70011, f"The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid.")
        with lock:
            stats["client_secret_tokens"] += 1
        return 200, self.issue(resource, IDENTITY["client_id"], expires_in_as_text=False)

    def managed_identity(self, method, query):
        if method != "GET":
            return 405, {"error": "invalid_request", "error_description": "Only GET is supported"}
        if self.headers.get("Metadata") != "true":
            return 400, {"error": "invalid_request", "error_description": "Required metadata header not specified"}
        if query.get("api-version", [""])[0] != "2018-02-01":
            return 400, {"error": "invalid_request", "error_description": "Required query variable 'api-version' is missing or not supported"}
        resource = query.get("resource", [""])[0]
        if resource not in RESOURCES:
            return 400, {"error": "invalid_resource", "error_description": f"AADSTS500011: The resource principal named {resource} was not found in the tenant."}
        client_id = query.get("client_id", [None])[0]
        principal = IDENTITY["system_identity"] if client_id is None else client_id
        if not principal or (client_id is not None and client_id != IDENTITY["user_identity"]):
            return 400, {"error": "invalid_request", "error_description": "Identity not found"}
        with lock:
            stats["managed_identity_tokens"] += 1
        return 200, self.issue(resource, principal, expires_in_as_text=True)

    def issue(self, resource, principal, expires_in_as_text):
        with lock:
            lifetime = int(config["token_lifetime"])
            token = "standin." + randomness.token_urlsafe(32)
            tokens[token] = {"audience": resource, "expires": time.time() + lifetime, "principal": principal}
            stats["tokens_issued"] += 1
        if expires_in_as_text:
            now = int(time.time())
            return {"access_token": token, "client_id": principal, "expires_in": str(lifetime), "expires_on": str(now + lifetime),
                    "ext_expires_in": str(lifetime), "not_before": str(now), "resource": resource, "token_type": "Bearer"}
        return {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token}

    # MARK: the vault

    def vault(self, method, parts, query, body):
        with lock:
            delay = float(config["delay"])
            stats["vault_requests"] += 1
        if delay:
            time.sleep(delay)
        if query.get("api-version", [""])[0] != "7.4":
            given = query.get("api-version", [""])[0]
            return vault_error(400, "BadParameter", f"The specified version ({given}) is not recognized. Consider using the latest supported version (7.4).")
        refusal = self.authenticate()
        if refusal:
            return refusal
        operation, handler = self.operation(method, parts)
        with lock:
            stats["operations"][operation] = stats["operations"].get(operation, 0) + 1
            if config["throttle"] > 0:
                config["throttle"] -= 1
                stats["throttled"] += 1
                retry = str(config["retry_after"])
                status, answer = vault_error(429, "Throttled", "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached")
                return status, answer, ([("Retry-After", retry)] if retry else [])
            if config["fail"] > 0:
                config["fail"] -= 1
                stats["failed"] += 1
                return vault_error(503, "ServiceUnavailable", "The service is temporarily unavailable.")
            if operation in config["forbid"] or (operation == "purge" and config["purge_protection"]):
                if operation == "purge" and config["purge_protection"]:
                    return vault_error(403, "Forbidden", "Operation \"purge\" is not allowed because purge protection is enabled for this vault. "
                                       "Key Vault service will automatically purge it after the retention period has passed.", "PurgeProtectionEnabled")
                return vault_error(403, "Forbidden", f"The user, group or application 'appid={self.principal};' does not have secrets {operation} permission "
                                   f"on key vault 'standin;location=local'.", "AccessDenied")
            if handler is None:
                return vault_error(405, "BadParameter", f"The method {method} is not allowed here.")
            self.settle()
            return handler(parts, query, body)

    def authenticate(self):
        header = self.headers.get("Authorization") or ""
        challenge = [("WWW-Authenticate", f'Bearer authorization="{self.base()}/{IDENTITY["tenant"]}", resource="{config["audience"]}"')]
        with lock:
            record = tokens.get(header[len("Bearer "):]) if header.startswith("Bearer ") else None
            now = time.time()
            if record is None or record["expires"] <= now or record["audience"] != config["audience"]:
                stats["unauthorized"] += 1
            if not header.startswith("Bearer "):
                return 401, {"error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer or PoP token."}}, challenge
            if record is None:
                return 401, {"error": {"code": "Unauthorized", "message": "AKV10005: Invalid token."}}, challenge
            if record["expires"] <= now:
                return 401, {"error": {"code": "Unauthorized", "message": "[TokenExpired] Error validating token: 'S2S12086'."}}, challenge
            if record["audience"] != config["audience"]:
                return 401, {"error": {"code": "Unauthorized", "message": f"AKV10022: Invalid audience. Expected {config['audience']}, found: {record['audience']}."}}, challenge
            self.principal = record["principal"]
        return None

    def operation(self, method, parts):
        collection = parts[0]
        rest = parts[1:]
        if collection == "secrets" and rest in ([], [""]):
            return "list", self.list_secrets if method == "GET" else None
        if collection == "secrets" and len(rest) == 2 and rest[1] == "versions":
            return "list", self.list_versions if method == "GET" else None
        if collection == "secrets" and len(rest) in (1, 2):
            return {"GET": ("get", self.get_secret), "PUT": ("set", self.set_secret), "DELETE": ("delete", self.delete_secret)}.get(method, ("get", None))
        if collection == "deletedsecrets" and len(rest) == 1:
            return {"GET": ("get", self.get_deleted), "DELETE": ("purge", self.purge)}.get(method, ("get", None))
        if collection == "deletedsecrets" and len(rest) == 2 and rest[1] == "recover":
            return "recover", self.recover if method == "POST" else None
        return "other", None

    def settle(self):
        # Deletions finish after delete_delay; until then the name is "being deleted".
        now = time.time()
        for item in deleted.values():
            if item["settles"] <= now:
                item["settles"] = 0

    @staticmethod
    def check_name(name):
        if not NAME.match(name):
            return vault_error(400, "BadParameter", f"The request URI contains an invalid name: {name}")
        return None

    def bundle(self, item, version, value=True):
        answer = {"id": f"{self.base()}/secrets/{item['name']}/{version['id']}", "attributes": attributes(version), "tags": version["tags"]}
        if version["contentType"] is not None:
            answer["contentType"] = version["contentType"]
        if value:
            answer["value"] = version["value"]
        return answer

    def deleted_bundle(self, item):
        answer = self.bundle(item, item["versions"][-1], value=False)
        answer.update({"recoveryId": f"{self.base()}/deletedsecrets/{item['name']}", "deletedDate": int(item["deleted"]),
                       "scheduledPurgeDate": int(item["deleted"]) + 90 * 86400})
        return answer

    def list_secrets(self, parts, query, body):
        size = query.get("maxresults", ["25"])[0]
        if not size.isdigit() or not 1 <= int(size) <= 25:
            return vault_error(400, "BadParameter", "invalid maxresults: the maximum value is 25")
        items = [{"id": f"{self.base()}/secrets/{item['name']}", "attributes": attributes(item["versions"][-1]),
                  "contentType": item["versions"][-1]["contentType"], "tags": item["versions"][-1]["tags"]}
                 for _, item in sorted(live.items())]
        return 200, {"value": items[: int(size)], "nextLink": None}

    def list_versions(self, parts, query, body):
        item = live.get(parts[1].lower())
        if item is None:
            return not_found(parts[1])
        return 200, {"value": [self.bundle(item, version, value=False) for version in item["versions"]], "nextLink": None}

    def get_secret(self, parts, query, body):
        name = parts[1]
        version_id = parts[2] if len(parts) > 2 else ""
        refusal = self.check_name(name)
        if refusal:
            return refusal
        item = live.get(name.lower())
        if item is None:
            return not_found(name, version_id)
        if not version_id:
            return 200, self.bundle(item, item["versions"][-1])
        for version in item["versions"]:
            if version["id"] == version_id.lower():
                return 200, self.bundle(item, version)
        return not_found(name, version_id)

    def set_secret(self, parts, query, body):
        if len(parts) != 2:
            return vault_error(405, "BadParameter", "PUT takes a secret name, not a version")
        name = parts[1]
        refusal = self.check_name(name)
        if refusal:
            return refusal
        if not (self.headers.get("Content-Type") or "").startswith("application/json"):
            return vault_error(400, "BadParameter", "The request content type must be application/json.")
        try:
            request = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return vault_error(400, "BadParameter", "The request body is not valid JSON.")
        if not isinstance(request, dict) or not isinstance(request.get("value"), str):
            return vault_error(400, "BadParameter", "Property value is required and must be a string.")
        if len(request["value"]) > MAX_VALUE:
            return vault_error(400, "BadParameter", f"Secret is beyond the maximum permitted length of {MAX_VALUE} characters.")
        content_type = request.get("contentType")
        tags = request.get("tags") or {}
        if (content_type is not None and not isinstance(content_type, str)) or not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
            return vault_error(400, "BadParameter", "contentType must be a string and tags a map of strings.")
        held = deleted.get(name.lower())
        if held is not None and held["settles"]:
            return vault_error(409, "Conflict", f"Secret {name} is currently being deleted.", "ObjectIsBeingDeleted")
        if held is not None:
            return vault_error(409, "Conflict", f"Secret {name} is currently in a deleted but recoverable state, and its name cannot be reused; "
                               "in this state, the secret can only be recovered or purged.", "ObjectIsDeletedButRecoverable")
        item = live.setdefault(name.lower(), {"name": name, "versions": []})
        version = {"id": randomness.token_hex(16), "value": request["value"], "contentType": content_type, "tags": tags, "created": int(time.time())}
        item["versions"].append(version)
        return 200, self.bundle(item, version)

    def delete_secret(self, parts, query, body):
        if len(parts) != 2:
            return vault_error(405, "BadParameter", "DELETE takes a secret name, not a version")
        item = live.pop(parts[1].lower(), None)
        if item is None:
            return not_found(parts[1])
        now = time.time()
        item.update({"deleted": now, "settles": now + float(config["delete_delay"]) if config["delete_delay"] else 0})
        deleted[parts[1].lower()] = item
        return 200, self.deleted_bundle(item)

    def get_deleted(self, parts, query, body):
        item = deleted.get(parts[1].lower())
        if item is None or item["settles"]:
            return vault_error(404, "SecretNotFound", f"Deleted Secret not found: {parts[1]}")
        return 200, self.deleted_bundle(item)

    def purge(self, parts, query, body):
        item = deleted.get(parts[1].lower())
        if item is None:
            return vault_error(404, "SecretNotFound", f"Deleted Secret not found: {parts[1]}")
        if item["settles"]:
            return vault_error(409, "Conflict", f"Secret {parts[1]} is currently being deleted.", "ObjectIsBeingDeleted")
        del deleted[parts[1].lower()]
        return 204, None

    def recover(self, parts, query, body):
        item = deleted.get(parts[1].lower())
        if item is None:
            return vault_error(404, "SecretNotFound", f"Deleted Secret not found: {parts[1]}")
        if item["settles"]:
            return vault_error(409, "Conflict", f"Secret {parts[1]} is currently being deleted.", "ObjectIsBeingDeleted")
        del deleted[parts[1].lower()]
        live[parts[1].lower()] = {"name": item["name"], "versions": item["versions"]}
        return 200, self.bundle(item, item["versions"][-1], value=False)

    # MARK: faults and inspection

    def control(self, method, path, body):
        with lock:
            if path == "/_test/config" and method == "POST":
                config.update(json.loads(body or b"{}"))
                return 200, config
            if path == "/_test/stats" and method == "GET":
                return 200, stats
            if path == "/_test/revoke" and method == "POST":
                for record in tokens.values():
                    record["expires"] = 0
                return 200, {"revoked": len(tokens)}
            if path == "/_test/secrets" and method == "GET":
                view = {}
                for state, table in (("live", live), ("deleted", deleted)):
                    for key, item in table.items():
                        view[key] = {"name": item["name"], "state": state, "versions": item["versions"]}
                return 200, view
        return 404, {"error": "no such control"}


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64


Server(("127.0.0.1", PORT), Handler).serve_forever()
