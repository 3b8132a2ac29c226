"""Shop secrets encrypted with the stack's KMS key; decrypted values are cached per container."""

from __future__ import annotations

import threading
from typing import Any


class SecretBox:
    """Encrypts with KMS under an encryption context naming the shop and the secret's purpose, so a
    ciphertext copied to another shop or field does not decrypt."""

    def __init__(self, kms: Any, key_id: str) -> None:
        self._kms = kms
        self._key_id = key_id
        self._cache: dict[tuple[bytes, str, str], bytes] = {}
        self._lock = threading.Lock()

    def encrypt(self, plaintext: bytes, *, shop_id: str, purpose: str) -> bytes:
        answer = self._kms.encrypt(
            KeyId=self._key_id,
            Plaintext=plaintext,
            EncryptionContext={"shop_id": shop_id, "purpose": purpose},
        )
        blob: bytes = answer["CiphertextBlob"]
        return blob

    def decrypt(self, ciphertext: bytes, *, shop_id: str, purpose: str) -> bytes:
        key = (bytes(ciphertext), shop_id, purpose)
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None:
            return hit
        answer = self._kms.decrypt(
            CiphertextBlob=bytes(ciphertext),
            EncryptionContext={"shop_id": shop_id, "purpose": purpose},
        )
        plaintext: bytes = answer["Plaintext"]
        with self._lock:
            if len(self._cache) > 2048:
                self._cache.clear()
            self._cache[key] = plaintext
        return plaintext
