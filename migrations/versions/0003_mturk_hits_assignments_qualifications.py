"""MTurk HITs, assignments and the per-study "took part" qualification

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 04:51:17.207392

Tables written by `camstudy mturk` (webapp/recruitment/mturk): the HITs it created (with the
UniqueRequestToken written before the call), the assignments MTurk reported with
what was done about them (review, bonus, exclusion qualification), and the custom
qualification type per study and mode (sandbox/live).
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('mturk_hits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_pk', sa.Integer(), nullable=False),
    sa.Column('sandbox', sa.Boolean(), nullable=False),
    sa.Column('batch', sa.Integer(), nullable=False),
    sa.Column('batch_index', sa.Integer(), nullable=False),
    sa.Column('unique_request_token', sa.String(length=64), nullable=False),
    sa.Column('hit_id', sa.String(length=64), nullable=True),
    sa.Column('hit_type_id', sa.String(length=64), nullable=True),
    sa.Column('max_assignments', sa.Integer(), nullable=False),
    sa.Column('reward', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('deleted_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['study_pk'], ['studies.id'], name=op.f('fk_mturk_hits_study_pk_studies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mturk_hits')),
    sa.UniqueConstraint('hit_id', name=op.f('uq_mturk_hits_hit_id')),
    sa.UniqueConstraint('unique_request_token', name=op.f('uq_mturk_hits_unique_request_token'))
    )
    with op.batch_alter_table('mturk_hits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mturk_hits_study_pk'), ['study_pk'], unique=False)

    op.create_table('mturk_qualifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_pk', sa.Integer(), nullable=False),
    sa.Column('sandbox', sa.Boolean(), nullable=False),
    sa.Column('qualification_type_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['study_pk'], ['studies.id'], name=op.f('fk_mturk_qualifications_study_pk_studies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mturk_qualifications')),
    sa.UniqueConstraint('study_pk', 'sandbox', name=op.f('uq_mturk_qualifications_study_pk_sandbox'))
    )
    with op.batch_alter_table('mturk_qualifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mturk_qualifications_study_pk'), ['study_pk'], unique=False)

    op.create_table('mturk_assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hit_pk', sa.Integer(), nullable=False),
    sa.Column('assignment_id', sa.String(length=64), nullable=False),
    sa.Column('worker_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('participant_pk', sa.Integer(), nullable=True),
    sa.Column('submitted_at', sa.DateTime(), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(), nullable=True),
    sa.Column('bonus_amount', sa.String(length=16), nullable=True),
    sa.Column('bonus_sent_at', sa.DateTime(), nullable=True),
    sa.Column('excluded_at', sa.DateTime(), nullable=True),
    sa.Column('synced_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("status IN ('Submitted', 'Approved', 'Rejected')", name=op.f('ck_mturk_assignments_status')),
    sa.ForeignKeyConstraint(['hit_pk'], ['mturk_hits.id'], name=op.f('fk_mturk_assignments_hit_pk_mturk_hits'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['participant_pk'], ['participants.id'], name=op.f('fk_mturk_assignments_participant_pk_participants'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mturk_assignments')),
    sa.UniqueConstraint('assignment_id', name=op.f('uq_mturk_assignments_assignment_id'))
    )
    with op.batch_alter_table('mturk_assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mturk_assignments_hit_pk'), ['hit_pk'], unique=False)
        batch_op.create_index(batch_op.f('ix_mturk_assignments_worker_id'), ['worker_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('mturk_assignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mturk_assignments_worker_id'))
        batch_op.drop_index(batch_op.f('ix_mturk_assignments_hit_pk'))

    op.drop_table('mturk_assignments')
    with op.batch_alter_table('mturk_qualifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mturk_qualifications_study_pk'))

    op.drop_table('mturk_qualifications')
    with op.batch_alter_table('mturk_hits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mturk_hits_study_pk'))

    op.drop_table('mturk_hits')
