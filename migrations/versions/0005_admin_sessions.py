"""Admin sessions held server-side

Revision ID: 0005_admin_sessions
Revises: 0004
Create Date: 2026-11-30 05:20:00

One row per logged-in admin browser (webapp/admin/views.py): the hash of the nonce in its
cookie and a keyed fingerprint of the credential it logged in with, so that logout
and a changed admin token or password end the session on the server.
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0005_admin_sessions'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('admin_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('nonce_sha256', sa.String(length=64), nullable=False),
    sa.Column('credential', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_admin_sessions')),
    sa.UniqueConstraint('nonce_sha256', name=op.f('uq_admin_sessions_nonce_sha256'))
    )


def downgrade() -> None:
    op.drop_table('admin_sessions')
