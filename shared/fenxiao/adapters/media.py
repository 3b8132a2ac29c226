"""The media bucket (private, SSE): mini-program codes under ``codes/``, posters under ``posters/`` and fetched
custom backgrounds under ``backgrounds/``, each keyed by a hash of everything it is made from, so an object
that exists is the answer and is never made again. The mall's pages get them through presigned GET URLs."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

PRESIGN_SECONDS = 3600  # an image_url stays valid an hour (SPEC: at least 10 minutes)


def hashed_key(prefix: str, *parts: str) -> str:
    """``{prefix}/{sha256 of the parts}`` (parts joined by NUL, which none of them holds)."""
    return f"{prefix}/{hashlib.sha256(chr(0).join(parts).encode()).hexdigest()}"


@dataclass(frozen=True)
class StoredObject:
    content_type: str
    metadata: dict[str, str]


class MediaStore:
    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def head(self, key: str) -> StoredObject | None:
        try:
            answer = self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return StoredObject(str(answer.get("ContentType", "")), dict(answer.get("Metadata") or {}))

    def get(self, key: str) -> bytes | None:
        try:
            answer = self.s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return bytes(answer["Body"].read())

    def put(self, key: str, body: bytes, content_type: str, metadata: dict[str, str] | None = None) -> None:
        self.s3.put_object(
            Bucket=self.bucket, Key=key, Body=body, ContentType=content_type, Metadata=metadata or {}
        )

    def presigned_get(self, key: str) -> str:
        return str(
            self.s3.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=PRESIGN_SECONDS
            )
        )
