"""responses_export view (the tidy export as SQL)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 04:45:00.000000

A read-only view with the columns and values of the responses export
(docs/formats.md, webapp/data/export.py), for `analysis/report.py --db URL`.
Booleans come out as the export's text `true`/`false` (empty/NULL where the
export leaves a cell empty), so the same parsing serves the CSV and the view.
The SQL is shared by SQLite and PostgreSQL except the `answered_at` formatting
(ISO 8601 UTC, milliseconds truncated, `Z` suffix).
"""
from __future__ import annotations

from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

# answered_at as webapp.data.export.iso_utc writes it: 2026-11-22T10:03:12.345Z.
ANSWERED_AT = {
    # to_char's MS truncates to whole milliseconds, like iso_utc.
    'postgresql': """to_char(r.answered_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')""",
    # SQLAlchemy stores SQLite DateTime as 'YYYY-MM-DD HH:MM:SS.ffffff'; cutting the text
    # truncates (strftime's %f would round).
    'sqlite': "substr(r.answered_at, 1, 10) || 'T' || substr(r.answered_at, 12, 12) || 'Z'",
}

VIEW_SQL = """
CREATE VIEW responses_export AS
SELECT
    s.study_id AS study_id,
    p.participant_id AS participant_id,
    p.source AS source,
    CASE WHEN p.completed_at IS NOT NULL THEN 'true' ELSE 'false' END AS participant_completed,
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
    r.rt_ms AS rt_ms,
    {answered_at} AS answered_at
FROM responses r
JOIN trials t ON r.trial_pk = t.id
JOIN participants p ON r.participant_pk = p.id
JOIN pairs pr ON t.pair_pk = pr.id
JOIN studies s ON p.study_pk = s.id
WHERE NOT t.is_practice
ORDER BY s.id, p.id, t.trial_index, r.id
"""


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect not in ANSWERED_AT:
        raise NotImplementedError(f"responses_export view: no answered_at formatting for {dialect}")
    op.execute(VIEW_SQL.format(answered_at=ANSWERED_AT[dialect]))


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS responses_export")
