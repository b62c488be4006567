"""Where stimuli go: always a local study directory, and an S3 prefix when configured.

Only the stimuli are uploaded. The manifest and the gallery name the method of
every file, so they stay with the researcher and never sit beside the stimuli.
"""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from generator.errors import CamStudyError

CACHE_CONTROL = "public, max-age=31536000, immutable"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write ``data`` unless the file already holds exactly these bytes; True if written."""
    if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return True


@dataclass
class S3Target:
    bucket: str
    prefix: str
    url_mode: str = "presigned"
    public_base_url: str = ""
    endpoint_url: str = ""

    @classmethod
    def parse(cls, uri: str, **kwargs) -> "S3Target":
        if not uri.startswith("s3://") or len(uri) <= 5:
            raise CamStudyError(f"not an S3 location: {uri!r}; expected s3://bucket/prefix")
        bucket, _, prefix = uri[5:].partition("/")
        if not bucket:
            raise CamStudyError(f"no bucket in {uri!r}; expected s3://bucket/prefix")
        return cls(bucket=bucket, prefix=prefix.strip("/"), **kwargs)

    def key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def url(self, relative: str) -> str | None:
        if self.url_mode == "public":
            return f"{self.public_base_url.rstrip('/')}/{quote(relative)}"
        return None

    def describe(self) -> dict:
        out = {"kind": "s3", "bucket": self.bucket, "prefix": self.prefix, "url_mode": self.url_mode,
               "base_url": self.public_base_url or None}
        if self.endpoint_url:
            out["endpoint_url"] = self.endpoint_url
        return out

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url or None)


class S3Uploader:
    """Uploads files that are not already there with the same bytes (compared by MD5)."""

    def __init__(self, target: S3Target) -> None:
        self.target = target
        self.client = target.client()
        try:
            self.client.head_bucket(Bucket=target.bucket)
        except Exception as exc:  # noqa: BLE001 - botocore raises many kinds; say which bucket
            raise CamStudyError(f"cannot reach S3 bucket {target.bucket!r}: {exc}") from None

    def put(self, relative: str, data: bytes, content_type: str) -> bool:
        key = self.target.key(relative)
        md5 = hashlib.md5(data).hexdigest()  # noqa: S324 - S3's ETag for single-part uploads
        try:
            head = self.client.head_object(Bucket=self.target.bucket, Key=key)
            if head.get("ETag", "").strip('"') == md5:
                return False
        except self.client.exceptions.ClientError:
            pass
        self.client.put_object(
            Bucket=self.target.bucket, Key=key, Body=data, ContentType=content_type,
            CacheControl=CACHE_CONTROL, ContentMD5=base64.b64encode(bytes.fromhex(md5)).decode(),
        )
        return True
