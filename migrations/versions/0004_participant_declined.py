"""participants.declined_at: the participant declined consent

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 05:40:00

A participant who presses "decline" on the consent page is kept as a row marked
declined (so the link answers "you declined" and the admin can count them), with no
trials and no answers: consent comes before allocation.
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


# Plain ALTER TABLE, not batch mode: batch mode would recreate the participants table,
# which SQLite refuses while the responses_export view (0002) refers to it.
def upgrade() -> None:
    op.add_column('participants', sa.Column('declined_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column('participants', 'declined_at')  # SQLite >= 3.35 drops a column in place
