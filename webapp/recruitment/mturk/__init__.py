"""Amazon Mechanical Turk: the requester side (``camstudy mturk``) and the worker source.

- ``requester``: the operations (create, list, status, review, bonus, expire, delete,
  cost, balance) over a boto3 ``mturk`` client, every call going through one
  ``Calls`` object that can print the call instead (``--dry-run``).
- ``calls``: that ``Calls`` object, the boto3 client, throttling retries.
- ``source``: the participant source behind ``/mturk/`` (preview, repeat workers,
  resume, the externalSubmit hand-back, framing inside the MTurk worker site).
- ``verify``: the worker's identity checked against MTurk's assignment record.

``camstudy mturk ...`` (argument parsing, sandbox/live, confirmation) is
``webapp.cli.mturk_main``.
"""
