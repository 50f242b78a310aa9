"""A loopback stand-in for Google's OAuth2 token endpoint, the GCE metadata server and Cloud KMS's
encrypt/decrypt, written from the documented APIs and as strict as they are where it matters:

- POST /token takes only the JWT-bearer grant; the assertion's RS256 signature is verified with the
  service account's public key, its header (alg, kid) and claims (iss, scope, aud = this endpoint,
  iat, exp no more than an hour after iat, not expired) are checked; tokens expire.
- GET /computeMetadata/v1/instance/service-accounts/default/token needs `Metadata-Flavor: Google`.
- Cloud KMS requests need a live bearer token; encrypt really encrypts (AES-256-GCM under the
  key's primary version, AAD bound), decrypt refuses a wrong AAD or another key's ciphertext,
  every CRC32C field is checked and answered; errors have Google's shape.
- Keys of the ring have versions, each ENABLED or DISABLED; encrypt uses the primary version and
  refuses it disabled, decrypt takes the version from the ciphertext and refuses it disabled
  (FAILED_PRECONDITION, as Cloud KMS does), so data keys still under a disabled version stop opening.
- /_test/... controls faults and keys: settings (delay, the first key's primary version refusing
  to encrypt, corrupt checksums), rotate (a new primary version), key (another key in the ring),
  version (enable or disable one version); and counts (stats).

Usage: gcp_kms_standin.py PORT PUBLIC_KEY_PEM CLIENT_EMAIL KEY_ID PROJECT LOCATION RING KEY
Test-only; never shipped."""
import base64, json, os, secrets, sys, threading, time, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

port, public_pem, client_email, private_key_id, project, location, ring, key = sys.argv[1:9]
public_key = serialization.load_pem_public_key(open(public_pem, "rb").read())
KEY_PREFIX = f"projects/{project}/locations/{location}/keyRings/{ring}/cryptoKeys/"


def new_key():
    return {"versions": {1: AESGCM.generate_key(bit_length=256)}, "states": {1: "ENABLED"}, "primary": 1}


keys = {key: new_key()}
state = {"disabled": False, "delay": 0.0, "corrupt": False, "token_lifetime": 3599,
         "tokens_issued": 0, "encrypts": 0, "decrypts": 0, "metadata_tokens": 0}
tokens = {}
lock = threading.Lock()


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def version_state(name, version, encrypting=False):
    """A version's state (set by /_test/version). For encrypting and describing, the `disabled`
    setting also disables the first key's primary version, which decrypts on. Call with `lock` held."""
    entry = keys[name]
    if encrypting and state["disabled"] and name == key and version == entry["primary"]:
        return "DISABLED"
    return entry["states"].get(version, "DESTROYED")


def key_of(path, suffix=""):
    """The key a `/v1/...cryptoKeys/K[suffix]` path names, if the ring holds it."""
    if not path.startswith("/v1/" + KEY_PREFIX) or not path.endswith(suffix):
        return None
    name = path[len("/v1/" + KEY_PREFIX):len(path) - len(suffix)]
    return name if name in keys and "/" not in name else None


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, name, message):
        self.reply(status, {"error": {"code": status, "message": message, "status": name}})

    def body(self):
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def do_GET(self):
        path = urllib.parse.urlparse(self.path).path
        if path == "/computeMetadata/v1/instance/service-accounts/default/token":
            if self.headers.get("Metadata-Flavor") != "Google":
                return self.reply(403, {"error": "Missing Metadata-Flavor:Google header"})
            return self.reply(200, self.issue(metadata=True))
        if path == "/_test/stats":
            with lock:
                return self.reply(200, dict(state, keys={name: {"primary": entry["primary"], "states": {str(v): version_state(name, v) for v in entry["states"]}}
                                                         for name, entry in keys.items()}))
        name = key_of(path)
        if name is not None:
            if not self.authorized():
                return
            with lock:
                number = keys[name]["primary"]
                primary = {"name": f"{KEY_PREFIX}{name}/cryptoKeyVersions/{number}", "state": version_state(name, number, encrypting=True)}
            return self.reply(200, {"name": KEY_PREFIX + name, "purpose": "ENCRYPT_DECRYPT", "primary": primary})
        return self.error(404, "NOT_FOUND", f"Requested entity was not found.")

    def do_POST(self):
        raw = self.body()
        path = urllib.parse.urlparse(self.path).path
        if path.startswith("/_test/"):
            return self.control(path, json.loads(raw or b"{}"))
        if path == "/token":
            return self.token(raw)
        with lock:
            delay = state["delay"]
        if delay:
            time.sleep(delay)
        name = key_of(path, ":encrypt") or key_of(path, ":decrypt")
        if name is not None:
            if not self.authorized():
                return
            try:
                request = json.loads(raw)
            except ValueError:
                return self.error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
            return self.encrypt(name, request) if path.endswith(":encrypt") else self.decrypt(name, request)
        if path.startswith("/v1/projects/"):
            return self.error(404, "NOT_FOUND", f"CryptoKey {path[4:].split(':')[0]} not found.")
        return self.error(404, "NOT_FOUND", "no such endpoint")

    def control(self, path, settings):
        with lock:
            if path == "/_test/settings":
                state.update(settings)
                return self.reply(200, {"ok": True})
            name = settings.get("key", key)
            if path == "/_test/key":
                if name in keys or not name or "/" in name:
                    return self.reply(409, {"error": f"key {name} exists or is not a valid name"})
                keys[name] = new_key()
                return self.reply(200, {"ok": True})
            if name not in keys:
                return self.reply(404, {"error": f"no key {name}"})
            entry = keys[name]
            if path == "/_test/rotate":
                entry["primary"] = max(entry["versions"]) + 1
                entry["versions"][entry["primary"]] = AESGCM.generate_key(bit_length=256)
                entry["states"][entry["primary"]] = "ENABLED"
                return self.reply(200, {"ok": True, "primary": entry["primary"]})
            if path == "/_test/version":
                if settings.get("version") not in entry["states"] or settings.get("state") not in ("ENABLED", "DISABLED"):
                    return self.reply(400, {"error": "needs an existing version and a state ENABLED or DISABLED"})
                entry["states"][settings["version"]] = settings["state"]
                return self.reply(200, {"ok": True})
        return self.reply(404, {"error": "no such control"})

    def token(self, raw):
        form = urllib.parse.parse_qs(raw.decode())
        if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"]:
            return self.reply(400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"})
        try:
            header_b64, claims_b64, signature_b64 = form["assertion"][0].split(".")
            header, claims = json.loads(b64url_decode(header_b64)), json.loads(b64url_decode(claims_b64))
            public_key.verify(b64url_decode(signature_b64), f"{header_b64}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except Exception:
            return self.reply(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
        now = time.time()
        problems = []
        if header.get("alg") != "RS256" or header.get("kid") != private_key_id:
            problems.append("header")
        if claims.get("iss") != client_email:
            problems.append("iss")
        if "https://www.googleapis.com/auth/cloudkms" not in claims.get("scope", "").split():
            problems.append("scope")
        if claims.get("aud") != f"http://127.0.0.1:{port}/token":
            problems.append("aud")
        iat, exp = claims.get("iat", 0), claims.get("exp", 0)
        if iat > now + 60 or exp <= now or exp - iat > 3600:
            problems.append("iat/exp")
        if problems:
            return self.reply(400, {"error": "invalid_grant", "error_description": "Invalid JWT: " + ", ".join(problems)})
        return self.reply(200, self.issue(metadata=False))

    def issue(self, metadata):
        token = "ya29." + secrets.token_urlsafe(32)
        with lock:
            lifetime = state["token_lifetime"]
            tokens[token] = time.time() + lifetime
            state["metadata_tokens" if metadata else "tokens_issued"] += 1
        return {"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}

    def authorized(self):
        value = self.headers.get("Authorization", "")
        with lock:
            expires = tokens.get(value[len("Bearer "):]) if value.startswith("Bearer ") else None
        if expires is None or expires <= time.time():
            self.error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token.")
            return False
        return True

    def check_crc(self, request, field, data):
        if field in request and int(request[field]) != crc32c(data):
            self.error(400, "INVALID_ARGUMENT", f"The checksum in field {field} did not match the data in field {field.replace('Crc32c', '')}.")
            return False
        return True

    def encrypt(self, name, request):
        plaintext = base64.b64decode(request.get("plaintext", ""))
        aad = base64.b64decode(request.get("additionalAuthenticatedData", ""))
        if len(plaintext) > 64 * 1024:
            return self.error(400, "INVALID_ARGUMENT", "The plaintext exceeds the size limit.")
        if not self.check_crc(request, "plaintextCrc32c", plaintext) or not self.check_crc(request, "additionalAuthenticatedDataCrc32c", aad):
            return
        with lock:
            entry = keys[name]
            version = entry["primary"]
            if version_state(name, version, encrypting=True) != "ENABLED":
                return self.error(400, "FAILED_PRECONDITION", f"{KEY_PREFIX}{name}/cryptoKeyVersions/{version} is not enabled, current state is: {version_state(name, version, encrypting=True)}.")
            material, corrupt = entry["versions"][version], state["corrupt"]
            state["encrypts"] += 1
        nonce = os.urandom(12)
        ciphertext = bytes([version]) + nonce + AESGCM(material).encrypt(nonce, plaintext, aad)
        self.reply(200, {"name": f"{KEY_PREFIX}{name}/cryptoKeyVersions/{version}", "ciphertext": base64.b64encode(ciphertext).decode(),
                         "ciphertextCrc32c": str(crc32c(ciphertext) ^ (1 if corrupt else 0)),
                         "verifiedPlaintextCrc32c": "plaintextCrc32c" in request,
                         "verifiedAdditionalAuthenticatedDataCrc32c": "additionalAuthenticatedDataCrc32c" in request,
                         "protectionLevel": "SOFTWARE"})

    def decrypt(self, name, request):
        ciphertext = base64.b64decode(request.get("ciphertext", ""))
        aad = base64.b64decode(request.get("additionalAuthenticatedData", ""))
        if not self.check_crc(request, "ciphertextCrc32c", ciphertext) or not self.check_crc(request, "additionalAuthenticatedDataCrc32c", aad):
            return
        with lock:
            entry = keys[name]
            material = entry["versions"].get(ciphertext[0]) if ciphertext else None
            version_disabled = material is not None and version_state(name, ciphertext[0]) != "ENABLED"
            corrupt = state["corrupt"]
            primary = entry["primary"]
            state["decrypts"] += 1
        if version_disabled:
            # The ciphertext names its version; a version that is not enabled decrypts nothing.
            return self.error(400, "FAILED_PRECONDITION", f"The request cannot be fulfilled. Resource {KEY_PREFIX}{name}/cryptoKeyVersions/{ciphertext[0]} "
                                                          "has value DISABLED in field crypto_key_version.state.")
        try:
            plaintext = AESGCM(material).decrypt(ciphertext[1:13], ciphertext[13:], aad)
        except Exception:
            return self.error(400, "INVALID_ARGUMENT", "Decryption failed: the ciphertext is invalid.")
        self.reply(200, {"plaintext": base64.b64encode(plaintext).decode(), "plaintextCrc32c": str(crc32c(plaintext) ^ (1 if corrupt else 0)),
                         "usedPrimary": ciphertext[0] == primary, "protectionLevel": "SOFTWARE"})


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", int(port)), Handler).serve_forever()
