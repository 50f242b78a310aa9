#!/usr/bin/env python3
"""A loopback stand-in for the EC2 instance metadata service (IMDSv2) and the ECS container
credentials endpoint, answering their documented paths with the credentials given on the
command line. Test-only: it never ships.

usage: metadata_stub.py PORT ACCESS_KEY_ID SECRET_ACCESS_KEY CONTAINER_TOKEN
"""
import datetime
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, KEY_ID, SECRET, CONTAINER_TOKEN = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
IMDS_TOKEN = "imds-session-token"
ROLE = "secretfs-instance-role"


def document():
    expiration = (datetime.datetime.utcnow() + datetime.timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": KEY_ID, "SecretAccessKey": SECRET,
            "Token": "", "Expiration": expiration, "LastUpdated": expiration}


class Handler(BaseHTTPRequestHandler):
    def reply(self, status, body, content_type="text/plain"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self):
        if self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            return self.reply(200, IMDS_TOKEN)
        self.reply(400, "bad token request")

    def do_GET(self):
        if self.path == "/container-credentials":
            if self.headers.get("Authorization") != CONTAINER_TOKEN:
                return self.reply(401, "unauthorized")
            return self.reply(200, json.dumps(document()), "application/json")
        if not self.path.startswith("/latest/meta-data/"):
            return self.reply(404, "not found")
        if self.headers.get("X-aws-ec2-metadata-token") != IMDS_TOKEN:
            return self.reply(401, "")
        if self.path == "/latest/meta-data/iam/security-credentials/":
            return self.reply(200, ROLE)
        if self.path == "/latest/meta-data/iam/security-credentials/" + ROLE:
            body = document()
            body["Token"] = ""
            return self.reply(200, json.dumps(body), "application/json")
        self.reply(404, "not found")

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
