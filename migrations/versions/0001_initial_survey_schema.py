"""initial survey schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 04:14:32.452683
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('studies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.String(length=100), nullable=False),
    sa.Column('manifest_sha256', sa.String(length=64), nullable=False),
    sa.Column('manifest', sa.JSON(), nullable=False),
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.Column('study_dir', sa.String(length=1000), nullable=False),
    sa.Column('seed', sa.BigInteger(), nullable=False),
    sa.Column('allocation_serial', sa.Integer(), nullable=False),
    sa.Column('imported_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_studies')),
    sa.UniqueConstraint('study_id', name=op.f('uq_studies_study_id'))
    )
    op.create_table('participants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_pk', sa.Integer(), nullable=False),
    sa.Column('participant_id', sa.String(length=200), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('source_data', sa.JSON(), nullable=True),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('seed', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(), nullable=False),
    sa.Column('consented_at', sa.DateTime(), nullable=True),
    sa.Column('instructed_at', sa.DateTime(), nullable=True),
    sa.Column('allocated_at', sa.DateTime(), nullable=True),
    sa.Column('trials_done_at', sa.DateTime(), nullable=True),
    sa.Column('questionnaire', sa.JSON(), nullable=True),
    sa.Column('completed_at', sa.DateTime(), nullable=True),
    sa.Column('completion_code', sa.String(length=64), nullable=False),
    sa.CheckConstraint("source IN ('lab', 'mturk', 'prolific')", name=op.f('ck_participants_source')),
    sa.ForeignKeyConstraint(['study_pk'], ['studies.id'], name=op.f('fk_participants_study_pk_studies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_participants')),
    sa.UniqueConstraint('study_pk', 'source', 'participant_id', name=op.f('uq_participants_study_pk_source_participant_id')),
    sa.UniqueConstraint('token', name=op.f('uq_participants_token'))
    )
    with op.batch_alter_table('participants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_participants_study_pk'), ['study_pk'], unique=False)

    op.create_table('stimuli',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_pk', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('file', sa.String(length=500), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=True),
    sa.ForeignKeyConstraint(['study_pk'], ['studies.id'], name=op.f('fk_stimuli_study_pk_studies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stimuli')),
    sa.UniqueConstraint('study_pk', 'name', name=op.f('uq_stimuli_study_pk_name'))
    )
    with op.batch_alter_table('stimuli', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stimuli_study_pk'), ['study_pk'], unique=False)

    op.create_table('pairs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_pk', sa.Integer(), nullable=False),
    sa.Column('pair_id', sa.String(length=100), nullable=False),
    sa.Column('image_id', sa.String(length=200), nullable=False),
    sa.Column('class_index', sa.Integer(), nullable=True),
    sa.Column('class_name', sa.String(length=200), nullable=True),
    sa.Column('is_attention_check', sa.Boolean(), nullable=False),
    sa.Column('expected', sa.JSON(), nullable=True),
    sa.Column('original_pk', sa.Integer(), nullable=True),
    sa.Column('a_pk', sa.Integer(), nullable=False),
    sa.Column('b_pk', sa.Integer(), nullable=False),
    sa.Column('a_method', sa.String(length=50), nullable=True),
    sa.Column('b_method', sa.String(length=50), nullable=True),
    sa.CheckConstraint('is_attention_check OR (a_method IS NOT NULL AND b_method IS NOT NULL)', name=op.f('ck_pairs_methods_unless_attention')),
    sa.ForeignKeyConstraint(['a_pk'], ['stimuli.id'], name=op.f('fk_pairs_a_pk_stimuli')),
    sa.ForeignKeyConstraint(['b_pk'], ['stimuli.id'], name=op.f('fk_pairs_b_pk_stimuli')),
    sa.ForeignKeyConstraint(['original_pk'], ['stimuli.id'], name=op.f('fk_pairs_original_pk_stimuli')),
    sa.ForeignKeyConstraint(['study_pk'], ['studies.id'], name=op.f('fk_pairs_study_pk_studies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pairs')),
    sa.UniqueConstraint('study_pk', 'pair_id', name=op.f('uq_pairs_study_pk_pair_id'))
    )
    with op.batch_alter_table('pairs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pairs_study_pk'), ['study_pk'], unique=False)

    op.create_table('trials',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('participant_pk', sa.Integer(), nullable=False),
    sa.Column('pair_pk', sa.Integer(), nullable=False),
    sa.Column('image_id', sa.String(length=200), nullable=False),
    sa.Column('trial_index', sa.Integer(), nullable=False),
    sa.Column('is_practice', sa.Boolean(), nullable=False),
    sa.Column('is_attention_check', sa.Boolean(), nullable=False),
    sa.Column('swapped', sa.Boolean(), nullable=False),
    sa.Column('left_method', sa.String(length=50), nullable=True),
    sa.Column('right_method', sa.String(length=50), nullable=True),
    sa.Column('answered_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint('is_practice = (trial_index < 0)', name=op.f('ck_trials_practice_first')),
    sa.ForeignKeyConstraint(['pair_pk'], ['pairs.id'], name=op.f('fk_trials_pair_pk_pairs')),
    sa.ForeignKeyConstraint(['participant_pk'], ['participants.id'], name=op.f('fk_trials_participant_pk_participants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trials')),
    sa.UniqueConstraint('participant_pk', 'image_id', name=op.f('uq_trials_participant_pk_image_id')),
    sa.UniqueConstraint('participant_pk', 'trial_index', name=op.f('uq_trials_participant_pk_trial_index'))
    )
    with op.batch_alter_table('trials', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trials_pair_pk'), ['pair_pk'], unique=False)
        batch_op.create_index(batch_op.f('ix_trials_participant_pk'), ['participant_pk'], unique=False)

    op.create_table('responses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('participant_pk', sa.Integer(), nullable=False),
    sa.Column('trial_pk', sa.Integer(), nullable=False),
    sa.Column('question_id', sa.String(length=50), nullable=False),
    sa.Column('response_side', sa.String(length=4), nullable=False),
    sa.Column('response_method', sa.String(length=50), nullable=True),
    sa.Column('attention_correct', sa.Boolean(), nullable=True),
    sa.Column('rt_ms', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('answered_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("response_side IN ('A', 'B', 'same')", name=op.f('ck_responses_side')),
    sa.CheckConstraint('rt_ms >= 0', name=op.f('ck_responses_rt_nonnegative')),
    sa.ForeignKeyConstraint(['participant_pk'], ['participants.id'], name=op.f('fk_responses_participant_pk_participants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['trial_pk'], ['trials.id'], name=op.f('fk_responses_trial_pk_trials'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_responses')),
    sa.UniqueConstraint('participant_pk', 'trial_pk', 'question_id', name=op.f('uq_responses_participant_pk_trial_pk_question_id'))
    )
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_responses_participant_pk'), ['participant_pk'], unique=False)
        batch_op.create_index(batch_op.f('ix_responses_trial_pk'), ['trial_pk'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_responses_trial_pk'))
        batch_op.drop_index(batch_op.f('ix_responses_participant_pk'))

    op.drop_table('responses')
    with op.batch_alter_table('trials', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trials_participant_pk'))
        batch_op.drop_index(batch_op.f('ix_trials_pair_pk'))

    op.drop_table('trials')
    with op.batch_alter_table('pairs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pairs_study_pk'))

    op.drop_table('pairs')
    with op.batch_alter_table('stimuli', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stimuli_study_pk'))

    op.drop_table('stimuli')
    with op.batch_alter_table('participants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_participants_study_pk'))

    op.drop_table('participants')
    op.drop_table('studies')
