"""A loopback stand-in for Google's OAuth2 token endpoint, the GCE metadata server and Cloud KMS's
encrypt/decrypt, written from the documented APIs and as strict as they are where it matters:

- POST /token takes only the JWT-bearer grant; the assertion's RS256 signature is verified with the
  service account's public key, its header (alg, kid) and claims (iss, scope, aud = this endpoint,
  iat, exp no more than an hour after iat, not expired) are checked; tokens expire.
- GET /computeMetadata/v1/instance/service-accounts/default/token needs `Metadata-Flavor: Google`.
- Cloud KMS requests need a live bearer token; encrypt really encrypts (AES-256-GCM under the
  key's primary version, AAD bound), decrypt refuses a wrong AAD or another key's ciphertext,
  every CRC32C field is checked and answered; errors have Google's shape.
- /_test/... controls faults: delay, a disabled primary version, corrupt checksums; and counts.

Usage: gcp_kms_standin.py PORT PUBLIC_KEY_PEM CLIENT_EMAIL KEY_ID PROJECT LOCATION RING KEY
Test-only; never shipped."""
import base64, json, os, secrets, sys, threading, time, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

port, public_pem, client_email, private_key_id, project, location, ring, key = sys.argv[1:9]
public_key = serialization.load_pem_public_key(open(public_pem, "rb").read())
KEY_NAME = f"projects/{project}/locations/{location}/keyRings/{ring}/cryptoKeys/{key}"
versions = {1: AESGCM.generate_key(bit_length=256)}
state = {"primary": 1, "disabled": False, "delay": 0.0, "corrupt": False, "token_lifetime": 3599,
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
                return self.reply(200, dict(state))
        if path == f"/v1/{KEY_NAME}":
            if not self.authorized():
                return
            with lock:
                primary = {"name": f"{KEY_NAME}/cryptoKeyVersions/{state['primary']}", "state": "DISABLED" if state["disabled"] else "ENABLED"}
            return self.reply(200, {"name": KEY_NAME, "purpose": "ENCRYPT_DECRYPT", "primary": primary})
        return self.error(404, "NOT_FOUND", f"Requested entity was not found.")

    def do_POST(self):
        raw = self.body()
        path = urllib.parse.urlparse(self.path).path
        if path.startswith("/_test/"):
            with lock:
                state.update(json.loads(raw or b"{}"))
                if path == "/_test/rotate":
                    state["primary"] += 1
                    versions[state["primary"]] = AESGCM.generate_key(bit_length=256)
            return self.reply(200, {"ok": True})
        if path == "/token":
            return self.token(raw)
        with lock:
            delay = state["delay"]
        if delay:
            time.sleep(delay)
        if path in (f"/v1/{KEY_NAME}:encrypt", f"/v1/{KEY_NAME}:decrypt"):
            if not self.authorized():
                return
            try:
                request = json.loads(raw)
            except ValueError:
                return self.error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
            return self.encrypt(request) if path.endswith(":encrypt") else self.decrypt(request)
        if path.startswith("/v1/projects/"):
            return self.error(404, "NOT_FOUND", f"CryptoKey {path[4:].split(':')[0]} not found.")
        return self.error(404, "NOT_FOUND", "no such endpoint")

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

    def encrypt(self, request):
        plaintext = base64.b64decode(request.get("plaintext", ""))
        aad = base64.b64decode(request.get("additionalAuthenticatedData", ""))
        if len(plaintext) > 64 * 1024:
            return self.error(400, "INVALID_ARGUMENT", "The plaintext exceeds the size limit.")
        if not self.check_crc(request, "plaintextCrc32c", plaintext) or not self.check_crc(request, "additionalAuthenticatedDataCrc32c", aad):
            return
        with lock:
            if state["disabled"]:
                return self.error(400, "FAILED_PRECONDITION", f"{KEY_NAME}/cryptoKeyVersions/{state['primary']} is not enabled, current state is: DISABLED.")
            version, material, corrupt = state["primary"], versions[state["primary"]], state["corrupt"]
            state["encrypts"] += 1
        nonce = os.urandom(12)
        ciphertext = bytes([version]) + nonce + AESGCM(material).encrypt(nonce, plaintext, aad)
        self.reply(200, {"name": f"{KEY_NAME}/cryptoKeyVersions/{version}", "ciphertext": base64.b64encode(ciphertext).decode(),
                         "ciphertextCrc32c": str(crc32c(ciphertext) ^ (1 if corrupt else 0)),
                         "verifiedPlaintextCrc32c": "plaintextCrc32c" in request,
                         "verifiedAdditionalAuthenticatedDataCrc32c": "additionalAuthenticatedDataCrc32c" in request,
                         "protectionLevel": "SOFTWARE"})

    def decrypt(self, request):
        ciphertext = base64.b64decode(request.get("ciphertext", ""))
        aad = base64.b64decode(request.get("additionalAuthenticatedData", ""))
        if not self.check_crc(request, "ciphertextCrc32c", ciphertext) or not self.check_crc(request, "additionalAuthenticatedDataCrc32c", aad):
            return
        with lock:
            material = versions.get(ciphertext[0]) if ciphertext else None
            corrupt = state["corrupt"]
            state["decrypts"] += 1
        try:
            plaintext = AESGCM(material).decrypt(ciphertext[1:13], ciphertext[13:], aad)
        except Exception:
            return self.error(400, "INVALID_ARGUMENT", "Decryption failed: the ciphertext is invalid.")
        self.reply(200, {"plaintext": base64.b64encode(plaintext).decode(), "plaintextCrc32c": str(crc32c(plaintext) ^ (1 if corrupt else 0)),
                         "usedPrimary": ciphertext[0] == state["primary"], "protectionLevel": "SOFTWARE"})


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", int(port)), Handler).serve_forever()
