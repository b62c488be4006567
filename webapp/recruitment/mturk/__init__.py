"""Amazon Mechanical Turk: the requester side (``camstudy mturk``) and the worker source.

- ``requester``: the operations (create, list, status, review, bonus, expire, delete,
  cost, balance) over a boto3 ``mturk`` client, every call going through one
  ``Calls`` object that can print the call instead (``--dry-run``).
- ``cli``: ``camstudy mturk ...`` argument parsing, sandbox/live, confirmation.
- ``source``: the participant source behind ``/mturk/`` (preview, repeat workers,
  resume, the externalSubmit hand-back, framing inside the MTurk worker site).
"""
