"""crowd identity verification, server-side trial timing, questionnaire in the export view

Revision ID: 0006
Revises: 0005_admin_sessions
Create Date: 2026-11-30 05:20:00.000000

participants: ``claim`` (the platform's session id: MTurk assignmentId, Prolific
SESSION_ID; "" in the lab) joins the unique key, so every claimed assignment is its own
row and a forged one never finds another worker's session; ``verification``
(not_required / unverified / verified / rejected) and ``verified_at``. Existing crowd
participants become "unverified" with their stored assignment or session as the claim.
trials: ``served_at`` and ``server_ms`` (server-side timing). The ``responses_export``
view gains ``verification``, ``server_ms`` and the questionnaire columns.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0006'
down_revision = '0005_admin_sessions'
branch_labels = None
depends_on = None

ANSWERED_AT = {
    'postgresql': """to_char(r.answered_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')""",
    'sqlite': "substr(r.answered_at, 1, 10) || 'T' || substr(r.answered_at, 12, 12) || 'Z'",
}
QUESTIONNAIRE = {  # one questionnaire field of the participant's JSON as text
    'postgresql': "(p.questionnaire ->> '{key}')",
    'sqlite': "json_extract(p.questionnaire, '$.{key}')",
}
NEW_COLUMNS = {  # where each new column goes in the view: after the column named
    'participant_completed': "\n    p.verification AS verification,",
    'rt_ms': "\n    t.server_ms AS server_ms,",
    'answered_at': (",\n    {familiarity} AS questionnaire_familiarity,"
                    "\n    CASE WHEN substr({comments}, 1, 1) IN ('=', '+', '-', '@') THEN '''' || {comments}"
                    " ELSE {comments} END AS questionnaire_comments"),
}

VIEW_SQL = """
CREATE VIEW responses_export AS
SELECT
    s.study_id AS study_id,
    p.participant_id AS participant_id,
    p.source AS source,
    CASE WHEN p.completed_at IS NOT NULL THEN 'true' ELSE 'false' END AS participant_completed,{participant_completed}
    t.trial_index AS trial_index,
    pr.pair_id AS pair_id,
    pr.image_id AS image_id,
    pr.class_name AS class_name,
    r.question_id AS question_id,
    r.response_side AS response_side,
    r.response_method AS response_method,
    t.left_method AS left_method,
    t.right_method AS right_method,
    CASE WHEN t.is_attention_check THEN 'true' ELSE 'false' END AS is_attention_check,
    CASE WHEN r.attention_correct IS NULL THEN NULL
         WHEN r.attention_correct THEN 'true' ELSE 'false' END AS attention_correct,
    r.rt_ms AS rt_ms,{rt_ms}
    {answered_at_sql} AS answered_at{answered_at}
FROM responses r
JOIN trials t ON r.trial_pk = t.id
JOIN participants p ON r.participant_pk = p.id
JOIN pairs pr ON t.pair_pk = pr.id
JOIN studies s ON p.study_pk = s.id
WHERE NOT t.is_practice
ORDER BY s.id, p.id, t.trial_index, r.id
"""


def _view(dialect: str, with_new_columns: bool) -> str:
    if dialect not in ANSWERED_AT:
        raise NotImplementedError(f"responses_export view: no SQL for {dialect}")
    q = QUESTIONNAIRE[dialect]
    new = {after: (sql.format(familiarity=q.format(key="familiarity"), comments=q.format(key="comments"))
                   if with_new_columns else "") for after, sql in NEW_COLUMNS.items()}
    return VIEW_SQL.format(answered_at_sql=ANSWERED_AT[dialect], **new)


def _claims(bind) -> None:
    """Existing crowd participants: their stored assignment/session is the claim; unverified."""
    p = sa.table('participants', sa.column('id'), sa.column('source'), sa.column('source_data', sa.JSON),
                 sa.column('claim'), sa.column('verification'))
    rows = bind.execute(sa.select(p.c.id, p.c.source, p.c.source_data).where(p.c.source != 'lab')).all()
    for pk, source, data in rows:
        data = data or {}
        claim = data.get('assignmentId') if source == 'mturk' else data.get('SESSION_ID')
        bind.execute(sa.update(p).where(p.c.id == pk).values(claim=str(claim or '')[:100], verification='unverified'))


def upgrade() -> None:
    bind = op.get_bind()
    op.execute("DROP VIEW IF EXISTS responses_export")
    with op.batch_alter_table('participants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claim', sa.String(length=100), server_default='', nullable=False))
        batch_op.add_column(sa.Column('verification', sa.String(length=16), server_default='not_required',
                                      nullable=False))
        batch_op.add_column(sa.Column('verified_at', sa.DateTime(), nullable=True))
    _claims(bind)
    with op.batch_alter_table('participants', schema=None) as batch_op:
        batch_op.drop_constraint('uq_participants_study_pk_source_participant_id', type_='unique')
        batch_op.create_unique_constraint(op.f('uq_participants_study_pk_source_participant_id_claim'),
                                          ['study_pk', 'source', 'participant_id', 'claim'])
        batch_op.create_check_constraint(
            op.f('ck_participants_verification'), "verification IN ('not_required', 'unverified', 'verified', 'rejected')")
    with op.batch_alter_table('trials', schema=None) as batch_op:
        batch_op.add_column(sa.Column('served_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('server_ms', sa.Integer(), nullable=True))
    op.execute(_view(bind.dialect.name, with_new_columns=True))


def downgrade() -> None:
    bind = op.get_bind()
    doubled = bind.execute(sa.text(
        "SELECT participant_id FROM participants GROUP BY study_pk, source, participant_id HAVING COUNT(*) > 1"
    )).first()
    if doubled is not None:
        raise RuntimeError(
            f"cannot downgrade below 0005: participant id {doubled[0]!r} has several claimed sessions "
            "(assignments) in one study, which the older schema cannot hold; export, then delete the extra rows")
    op.execute("DROP VIEW IF EXISTS responses_export")
    with op.batch_alter_table('trials', schema=None) as batch_op:
        batch_op.drop_column('server_ms')
        batch_op.drop_column('served_at')
    with op.batch_alter_table('participants', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_participants_verification'), type_='check')
        batch_op.drop_constraint(op.f('uq_participants_study_pk_source_participant_id_claim'), type_='unique')
        batch_op.create_unique_constraint('uq_participants_study_pk_source_participant_id',
                                          ['study_pk', 'source', 'participant_id'])
        batch_op.drop_column('verified_at')
        batch_op.drop_column('verification')
        batch_op.drop_column('claim')
    op.execute(_view(bind.dialect.name, with_new_columns=False))
