"""The URL a page shows for a stimulus (``stimulus_url``): its public URL, the survey's
own stimulus route, or, in S3 with ``storage.url_mode = "presigned"``, signed on demand.

The importer stores such a stimulus as ``s3://bucket/key`` (``key`` = the manifest's
prefix + file, an opaque content-derived name: nothing in it names a method). Each
page signs a short-lived GET URL (``CAMSTUDY_S3_URL_EXPIRES`` seconds, default 600)
with the credentials boto3 finds (environment, instance role, ...), against the
manifest's ``endpoint_url`` unless ``CAMSTUDY_S3_ENDPOINT_URL`` overrides it. A signed
URL is reused within a process for a third of its lifetime, so the next trial's
prefetch and its page name the same URL and the browser's cache serves it. The
origin of each signed URL is added to the page's CSP ``img-src``.
"""
from __future__ import annotations

import os
import threading
import time
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flask import current_app, g, url_for

if TYPE_CHECKING:
    from webapp.data.tables import Stimulus
    from webapp.survey.study_cache import StimulusRef

_lock = threading.Lock()
_signed: dict[tuple[str, str], tuple[float, str]] = {}
MAX_CACHED = 50_000


def expires_s() -> int:
    return max(60, min(7 * 24 * 3600, int(current_app.config.get("CAMSTUDY_S3_URL_EXPIRES")
                                           or os.environ.get("CAMSTUDY_S3_URL_EXPIRES") or 600)))


@lru_cache(maxsize=16)
def _client(endpoint_url: str):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint_url or None,
                        config=Config(signature_version="s3v4", retries={"max_attempts": 2}))


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def presigned(uri: str, storage: dict | None) -> str:
    """A short-lived GET URL for ``s3://bucket/key``."""
    bucket, _, key = uri[len("s3://"):].partition("/")
    endpoint = os.environ.get("CAMSTUDY_S3_ENDPOINT_URL") or (storage or {}).get("endpoint_url") or ""
    lifetime = expires_s()
    now = time.monotonic()
    with _lock:
        hit = _signed.get((endpoint, uri))
    if hit and now - hit[0] < lifetime / 3:
        url = hit[1]
    else:
        url = _client(endpoint).generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=lifetime)
        with _lock:
            if len(_signed) > MAX_CACHED:
                _signed.clear()
            _signed[(endpoint, uri)] = (now, url)
    parts = urlsplit(url)
    g.setdefault("img_origins", set()).add(f"{parts.scheme}://{parts.netloc}")
    return url


def stimulus_url(stimulus: Stimulus | StimulusRef | None, storage: dict[str, Any] | None = None) -> str | None:
    if stimulus is None:
        return None
    if stimulus.url and stimulus.url.startswith("s3://"):
        return presigned(stimulus.url, storage)
    return stimulus.url or url_for("survey.stimulus", name=stimulus.name)
