"""Every boto3 MTurk call goes through ``Calls``: printed instead with ``--dry-run``,
retried on throttling, and turned into a clear ``MTurkError`` when MTurk refuses."""
from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from typing import Any, Callable, TextIO

SANDBOX_ENDPOINT = "https://mturk-requester-sandbox.us-east-1.amazonaws.com"
LIVE_ENDPOINT = "https://mturk-requester.us-east-1.amazonaws.com"
REGION = "us-east-1"  # MTurk's only region

THROTTLING_CODES = {"ThrottlingException", "Throttling", "TooManyRequestsException", "ServiceUnavailable"}
MAX_ATTEMPTS = 5


class MTurkError(RuntimeError):
    """A request MTurk refused (or could not be sent), with a message for the researcher."""


class DryRun:
    """Stands for a value only a real call would return (a HIT id, a HIT type id)."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __str__(self) -> str:
        return f"DRYRUN-{self.what}"


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, DryRun):
        return str(value)
    raise TypeError(f"not JSON serialisable: {value!r}")


def make_client(sandbox: bool, profile: str | None = None, timeouts: tuple[int, int] = (10, 30)):
    """A boto3 ``mturk`` client on the sandbox or live endpoint, credentials from the AWS chain."""
    import boto3
    from botocore.config import Config

    session = boto3.Session(profile_name=profile) if profile else boto3.Session()
    return session.client(
        "mturk", region_name=REGION, endpoint_url=SANDBOX_ENDPOINT if sandbox else LIVE_ENDPOINT,
        # Our own loop below retries throttling (visible, testable); botocore's would multiply it.
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=timeouts[0], read_timeout=timeouts[1]),
    )


class Calls:
    """Runs (or, dry, prints) boto3 MTurk operations."""

    def __init__(self, client: Any, dry_run: bool, out: TextIO | None = None,
                 sleep: Callable[[float], None] = time.sleep, base_delay: float = 1.0) -> None:
        self.client = client
        self.dry_run = dry_run
        self.out = out
        self.sleep = sleep
        self.base_delay = base_delay
        self.made: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, operation: str, **params: Any) -> dict[str, Any] | None:
        """The response dict, or None in a dry run (after printing the call as one JSON line)."""
        params = {k: (str(v) if isinstance(v, DryRun) else v) for k, v in params.items()}
        self.made.append((operation, params))
        if self.dry_run:
            print(json.dumps({"operation": operation, "params": params}, default=_json_default), file=self.out or sys.stdout)
            return None
        return self._send(operation, params)

    def _send(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        method = getattr(self.client, operation)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                return method(**params)
            except ClientError as exc:
                err = exc.response.get("Error", {})
                code, message = err.get("Code", "?"), err.get("Message", str(exc))
                if code in THROTTLING_CODES and attempt < MAX_ATTEMPTS:
                    self.sleep(self.base_delay * 2 ** (attempt - 1))
                    continue
                raise MTurkError(f"MTurk refused {operation}: {code}: {message}") from exc
            except NoCredentialsError as exc:
                raise MTurkError(
                    "no AWS credentials found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                    "or pass --profile NAME for a profile in ~/.aws/credentials"
                ) from exc
            except BotoCoreError as exc:
                raise MTurkError(f"could not send {operation} to MTurk: {exc}") from exc
        raise AssertionError("unreachable")  # pragma: no cover
