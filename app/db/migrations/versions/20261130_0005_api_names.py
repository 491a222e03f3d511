"""api names: history changes and event payloads speak the API's field names

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 12:00:00.000000

History `changes` and outbox payloads were written with column names (`deal_name`,
`event_id`); they are published through GraphQL and webhooks, so they now use the API's own
names (`dealName`, `eventId`), and team changes have one shape: `teamMembersAdded` /
`teamMembersRemoved`, each a list of {name, email}. Rows already written are rewritten here
(every outbox row, since pending deliveries read their event when they are sent), so clients
never see both spellings. The functions live in pg_temp: they vanish with the connection.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CAMEL = """
CREATE OR REPLACE FUNCTION pg_temp.camel(k text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT string_agg(CASE WHEN i = 1 THEN p ELSE initcap(p) END, '' ORDER BY i)
    FROM unnest(string_to_array(k, '_')) WITH ORDINALITY AS t(p, i)
$$
"""

_CAMEL_KEYS = """
CREATE OR REPLACE FUNCTION pg_temp.camel_keys(o jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN jsonb_typeof(o) = 'object' THEN
        (SELECT coalesce(jsonb_object_agg(pg_temp.camel(key), value), '{}'::jsonb)
         FROM jsonb_each(o))
    ELSE o END
$$
"""

_API_CHANGES = """
CREATE OR REPLACE FUNCTION pg_temp.api_changes(c jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(jsonb_object_agg(new_key, new_value), '{}'::jsonb) FROM (
        SELECT CASE key
                   WHEN 'team_members_added' THEN 'teamMembersAdded'
                   WHEN 'team_member_added' THEN 'teamMembersAdded'
                   WHEN 'team_member_removed' THEN 'teamMembersRemoved'
                   ELSE pg_temp.camel(key) END AS new_key,
               CASE key
                   WHEN 'team_members_added' THEN (
                       SELECT coalesce(
                           jsonb_agg(jsonb_build_object('name', n, 'email', NULL)), '[]'::jsonb)
                       FROM jsonb_array_elements_text(value) AS n)
                   WHEN 'team_member_added' THEN jsonb_build_array(value)
                   WHEN 'team_member_removed' THEN jsonb_build_array(value)
                   WHEN 'rerouted_to' THEN jsonb_build_object(
                       'from', NULL,
                       'to', CASE WHEN jsonb_typeof(value) = 'object' THEN
                           jsonb_build_object('leadId', value->'lead_id', 'partner',
                                              value->'partner')
                       END)
                   ELSE value END AS new_value
        FROM jsonb_each(c)) AS renamed
$$
"""

_API_PAYLOAD = """
CREATE OR REPLACE FUNCTION pg_temp.api_payload(p jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(jsonb_object_agg(
        pg_temp.camel(key),
        CASE WHEN key IN ('previous', 'current', 'actor') THEN pg_temp.camel_keys(value)
             WHEN key = 'changes' THEN pg_temp.api_changes(value)
             ELSE value END), '{}'::jsonb)
    FROM jsonb_each(p)
$$
"""

_SNAKE = """
CREATE OR REPLACE FUNCTION pg_temp.snake(k text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT lower(regexp_replace(k, '([A-Z])', '_\\1', 'g'))
$$
"""

_SNAKE_KEYS = """
CREATE OR REPLACE FUNCTION pg_temp.snake_keys(o jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN jsonb_typeof(o) = 'object' THEN
        (SELECT coalesce(jsonb_object_agg(pg_temp.snake(key), value), '{}'::jsonb)
         FROM jsonb_each(o))
    ELSE o END
$$
"""

_COLUMN_CHANGES = """
CREATE OR REPLACE FUNCTION pg_temp.column_changes(c jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(jsonb_object_agg(old_key, old_value), '{}'::jsonb) FROM (
        SELECT CASE key
                   WHEN 'teamMembersAdded' THEN 'team_members_added'
                   WHEN 'teamMembersRemoved' THEN 'team_member_removed'
                   ELSE pg_temp.snake(key) END AS old_key,
               CASE key
                   WHEN 'teamMembersAdded' THEN (
                       SELECT coalesce(jsonb_agg(m->'name'), '[]'::jsonb)
                       FROM jsonb_array_elements(value) AS m)
                   WHEN 'teamMembersRemoved' THEN value->0
                   WHEN 'reroutedTo' THEN CASE WHEN jsonb_typeof(value->'to') = 'object' THEN
                       jsonb_build_object('lead_id', value->'to'->'leadId', 'partner',
                                          value->'to'->'partner')
                       ELSE 'null'::jsonb END
                   ELSE value END AS old_value
        FROM jsonb_each(c)) AS renamed
$$
"""

_COLUMN_PAYLOAD = """
CREATE OR REPLACE FUNCTION pg_temp.column_payload(p jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(jsonb_object_agg(
        pg_temp.snake(key),
        CASE WHEN key IN ('previous', 'current', 'actor') THEN pg_temp.snake_keys(value)
             WHEN key = 'changes' THEN pg_temp.column_changes(value)
             ELSE value END), '{}'::jsonb)
    FROM jsonb_each(p)
$$
"""


def upgrade() -> None:
    for function in (_CAMEL, _CAMEL_KEYS, _API_CHANGES, _API_PAYLOAD):
        op.execute(function)
    op.execute(
        "UPDATE lead_history SET changes = pg_temp.api_changes(changes) "
        "WHERE changes <> '{}'::jsonb"
    )
    op.execute("UPDATE outbox SET payload = pg_temp.api_payload(payload)")


def downgrade() -> None:
    for function in (_SNAKE, _SNAKE_KEYS, _COLUMN_CHANGES, _COLUMN_PAYLOAD):
        op.execute(function)
    op.execute(
        "UPDATE lead_history SET changes = pg_temp.column_changes(changes) "
        "WHERE changes <> '{}'::jsonb"
    )
    op.execute("UPDATE outbox SET payload = pg_temp.column_payload(payload)")
