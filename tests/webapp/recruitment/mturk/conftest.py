"""The MTurk tests' stubbed client (no network, no AWS account)."""
from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber


@pytest.fixture
def mturk():
    """A real boto3 MTurk client whose requests are checked, recorded and answered by Stubber."""
    client = boto3.client("mturk", region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    sent: list[tuple[str, dict]] = []
    client.meta.events.register("provide-client-params.mturk.*",
                                lambda params, model, **kw: sent.append((model.name, dict(params))))
    with Stubber(client) as stub:
        stub.sent = sent
        stub.client = client
        yield stub
        stub.assert_no_pending_responses()
