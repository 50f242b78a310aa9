#!/usr/bin/env python3
"""moto_server with KMS as strict as the real service where key rotation depends on it.

moto answers Encrypt, Decrypt, GenerateDataKey and ReEncrypt with a disabled key, and ignores
ReEncrypt's SourceKeyId. Real KMS refuses a key that is not enabled (DisabledException, or
KMSInvalidStateException while it is pending deletion) for every use, on either side of a
ReEncrypt, and refuses a ReEncrypt whose SourceKeyId is not the key that wrapped the ciphertext
(IncorrectKeyException). Without that, a test that disables the old key after a rotation could
not fail. Everything else is moto's.

Usage: moto_strict_server.py [moto_server arguments...]
Test-only; never shipped."""
import sys

from moto.core.exceptions import JsonRESTError
from moto.kms import models, responses, utils
from moto.server import main


class KMSStateError(JsonRESTError):
    code = 400

    def __init__(self, error_type, message):
        super().__init__(error_type, message)


def require_usable(backend, key_id):
    key = backend.keys.get(backend.any_id_to_key_id(key_id))
    if key is None:
        return  # moto's own checks answer for a missing key
    if key.key_state == "Disabled":
        raise KMSStateError("DisabledException", f"{key.arn} is disabled.")
    if key.key_state != "Enabled":
        raise KMSStateError("KMSInvalidStateException", f"{key.arn} is {key.key_state}.")


def key_of(ciphertext_blob):
    try:
        return utils._deserialize_ciphertext_blob(ciphertext_blob=ciphertext_blob).key_id
    except Exception:
        return None  # moto's own decrypt reports a malformed blob


original_encrypt = models.KmsBackend.encrypt
original_decrypt = models.KmsBackend.decrypt
original_re_encrypt = responses.KmsResponse.re_encrypt


def encrypt(self, key_id, plaintext, encryption_context):
    # GenerateDataKey and ReEncrypt's destination come through here too.
    require_usable(self, key_id)
    return original_encrypt(self, key_id, plaintext, encryption_context)


def decrypt(self, ciphertext_blob, encryption_context, key_id=None):
    # ReEncrypt's source comes through here too.
    wrapped_by = key_of(ciphertext_blob)
    if wrapped_by is not None:
        require_usable(self, wrapped_by)
    return original_decrypt(self, ciphertext_blob, encryption_context, key_id)


def re_encrypt(self):
    source = self._get_param("SourceKeyId")
    wrapped_by = key_of(self._get_param("CiphertextBlob"))
    try:
        source_id = self.kms_backend.any_id_to_key_id(source) if source else None
    except Exception:
        raise KMSStateError("NotFoundException", f"Key '{source}' does not exist")
    if source_id and wrapped_by is not None and source_id != wrapped_by:
        raise KMSStateError("IncorrectKeyException", "The key ID in the request does not identify a KMS key that can perform this operation.")
    return original_re_encrypt(self)


models.KmsBackend.encrypt = encrypt
models.KmsBackend.decrypt = decrypt
responses.KmsResponse.re_encrypt = re_encrypt

if __name__ == "__main__":
    main(sys.argv[1:])
