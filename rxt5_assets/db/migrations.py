"""Schema migrations: numbered, idempotent, serialised by an advisory lock so two processes can run them at once."""

from __future__ import annotations

import psycopg

# Any fixed 64-bit key: all rxt5 processes take this lock before touching the schema.
_MIGRATION_LOCK_KEY = 0x7278_7435_6D69_6772

# Retrieval (migration 5). Full-text search is maintained by the database itself: a generated tsvector column that any
# writer of code_chunks fills, over the item name (weight A), the file path (B) and the content, with identifiers split
# into words (snake_case, CamelCase, Module.function, put/3) and the `simple` configuration, so code tokens are
# lower-cased but never stemmed. Embeddings live in their own table (one row per chunk and encoder fingerprint, dropped
# with their chunk); it needs pgvector, so it is created only where `create extension vector` succeeds (an external
# server without pgvector keeps full-text search). `rxt5_assets.retrieval.store` re-runs EMBEDDINGS_SQL when the
# extension appears later.
EMBEDDINGS_SQL = r"""
do $$
begin
    create extension if not exists vector;
exception when others then
    raise notice 'pgvector is not available on this server (%); retrieval uses full-text search only', sqlerrm;
end
$$;
do $$
begin
    if exists (select 1 from pg_extension where extname = 'vector') then
        create table if not exists code_chunk_embeddings (
            chunk_id          bigint not null references code_chunks (id) on delete cascade,
            model_fingerprint text not null,   -- the encoder that made it: "<name>:<weights fingerprint>"
            content_hash      text not null,   -- the chunk's content_hash when embedded: a changed row is re-embedded
            embedding         vector not null, -- mean-pooled encoder states, L2-normalised
            inserted_at       timestamptz not null default now(),
            updated_at        timestamptz not null default now(),
            primary key (chunk_id, model_fingerprint)
        );
    end if;
end
$$;
"""

RETRIEVAL_SQL = r"""
create or replace function rxt5_code_words(text) returns text
    language sql immutable parallel safe
    as $fn$
    select regexp_replace(
               regexp_replace(
                   regexp_replace(coalesce($1, ''), '([[:lower:][:digit:]])([[:upper:]])', '\1 \2', 'g'),
                   '([[:upper:]]+)([[:upper:]][[:lower:]])', '\1 \2', 'g'),
               '[^[:alnum:]]+', ' ', 'g')
    $fn$;
alter table code_chunks add column if not exists search_tsv tsvector generated always as (
    setweight(to_tsvector('simple'::regconfig, rxt5_code_words(item_name)), 'A')
    || setweight(to_tsvector('simple'::regconfig, rxt5_code_words(file_path)), 'B')
    || to_tsvector('simple'::regconfig, rxt5_code_words(left(content, 200000)))
) stored;
create index if not exists code_chunks_search_tsv_idx on code_chunks using gin (search_tsv);
create index if not exists code_chunks_repo_language_idx on code_chunks (repo, language);
""" + EMBEDDINGS_SQL

# Sessions share example rows (migration 7). An example's content is stored once, in t5_example_contents, keyed by a
# digest of every stored column; a session's membership is a narrow row of t5_session_examples. t5_training_examples —
# the seed's table name — is a view over the two with the old table's columns (plus example_id), so a session's
# examples are still `select … from t5_training_examples where training_session_id = …`; plain INSERT and DELETE
# on it keep working through INSTEAD OF triggers. rxt5's own writer (db/sessions.store_examples) computes a blake2b
# digest (16 bytes) client-side and sends PostgreSQL only the contents it lacks; rows inserted through the view, and
# rows of a migrated database, are keyed by sha256 (32 bytes) of their SQL rendering (rxt5_example_digest): the two
# kinds never collide, and each kind stores an example once. An old-shape database (t5_training_examples a table) is converted in
# place: its rows keep their ids, sessions, order and inserted_at; identical rows of several sessions become one
# content row.
SHARED_EXAMPLES_SQL = r"""
do $$
begin
    if (select relkind from pg_class where oid = to_regclass('t5_training_examples')) = 'r' then
        alter table t5_training_examples rename to t5_training_examples_before_v7;
    end if;
end
$$;
create table if not exists t5_example_contents (
    id                  bigserial primary key,
    digest              bytea not null,
    code_chunk_id       bigint references code_chunks (id) on delete set null,
    language            text not null,
    task                text not null,
    input               text not null,
    target              text not null,
    quality_score       real not null check (quality_score >= 0 and quality_score <= 1),
    quality_breakdown   jsonb not null default '{}'::jsonb,
    split               text check (split in ('train', 'eval')),
    repo                text,
    file_path           text,
    inserted_at         timestamptz not null default now()
);
-- the digest → id map a store reads whole (db/sessions.ContentIndex): id included, an index-only scan can serve it
create unique index if not exists t5_example_contents_digest_key on t5_example_contents (digest) include (id);
-- deleting code_chunks rows sets code_chunk_id to null: this index keeps that from scanning every example
create index if not exists t5_example_contents_code_chunk_idx on t5_example_contents (code_chunk_id);
-- one index (the primary key: a session's rows in the order they were stored) and one foreign key check per row:
-- example_id has no foreign key (rxt5 never deletes contents; a row whose content is gone drops out of the view's
-- join), which halves what a retrain's 184k membership rows cost
create table if not exists t5_session_examples (
    training_session_id uuid not null references t5_training_sessions (id) on delete cascade,
    id                  bigserial,  -- the order a session's examples were stored in
    example_id          bigint not null,  -- t5_example_contents (id)
    inserted_at         timestamptz not null default now(),
    primary key (training_session_id, id)
);

create or replace function rxt5_example_digest(code_chunk_id bigint, language text, task text, input text,
                                               target text, quality_score real, quality_breakdown jsonb,
                                               split text, repo text, file_path text) returns bytea
    language sql immutable parallel safe
    as $fn$
    select sha256(convert_to(jsonb_build_array($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)::text, 'UTF8'))
    $fn$;

do $$
begin
    if to_regclass('t5_training_examples_before_v7') is not null then
        create temporary table rxt5_v7_rows on commit drop as
            select id, training_session_id, inserted_at,
                   rxt5_example_digest(code_chunk_id, language, task, input, target, quality_score, quality_breakdown,
                                       split, repo, file_path) as digest
            from t5_training_examples_before_v7;
        insert into t5_example_contents (digest, code_chunk_id, language, task, input, target, quality_score,
                                         quality_breakdown, split, repo, file_path, inserted_at)
            select distinct on (r.digest) r.digest, o.code_chunk_id, o.language, o.task, o.input, o.target,
                   o.quality_score, o.quality_breakdown, o.split, o.repo, o.file_path, o.inserted_at
            from rxt5_v7_rows r join t5_training_examples_before_v7 o using (id)
            order by r.digest, o.id
            on conflict (digest) do nothing;
        insert into t5_session_examples (id, training_session_id, example_id, inserted_at)
            select r.id, r.training_session_id, c.id, r.inserted_at
            from rxt5_v7_rows r join t5_example_contents c using (digest)
            order by r.id
            on conflict do nothing;
        perform setval(pg_get_serial_sequence('t5_session_examples', 'id'),
                       greatest((select max(id) from t5_session_examples),
                                (select last_value from t5_training_examples_id_seq), 1));
        drop table t5_training_examples_before_v7;
    end if;
end
$$;

create or replace view t5_training_examples as
    select l.id, l.training_session_id, c.code_chunk_id, c.language, c.task, c.input, c.target, c.quality_score,
           c.quality_breakdown, c.split, c.repo, c.file_path, l.inserted_at, l.example_id
    from t5_session_examples l join t5_example_contents c on c.id = l.example_id;
alter view t5_training_examples alter column quality_breakdown set default '{}'::jsonb;

create or replace function rxt5_training_examples_write() returns trigger
    language plpgsql
    as $fn$
    declare
        key bytea;
    begin
        if tg_op = 'DELETE' then
            delete from t5_session_examples where training_session_id = old.training_session_id and id = old.id;
            return old;
        end if;
        key := rxt5_example_digest(new.code_chunk_id, new.language, new.task, new.input, new.target,
                                   new.quality_score, coalesce(new.quality_breakdown, '{}'::jsonb), new.split,
                                   new.repo, new.file_path);
        insert into t5_example_contents (digest, code_chunk_id, language, task, input, target, quality_score,
                                         quality_breakdown, split, repo, file_path)
            values (key, new.code_chunk_id, new.language, new.task, new.input, new.target, new.quality_score,
                    coalesce(new.quality_breakdown, '{}'::jsonb), new.split, new.repo, new.file_path)
            on conflict (digest) do nothing;
        select id into new.example_id from t5_example_contents where digest = key;
        insert into t5_session_examples (training_session_id, example_id)
            values (new.training_session_id, new.example_id) returning id, inserted_at into new.id, new.inserted_at;
        return new;
    end
    $fn$;
drop trigger if exists t5_training_examples_write on t5_training_examples;
create trigger t5_training_examples_write instead of insert or delete on t5_training_examples
    for each row execute function rxt5_training_examples_write();
"""

# Migration 8. A retrain links ~170k examples to its new session (200k chunks); the foreign key on
# t5_session_examples.training_session_id checked each row with a trigger of its own, 0.65 of the 1.05 s that insert
# took. The same rules, once per statement: an insert (or update) whose rows name a session that does not exist fails
# with foreign_key_violation, and the sessions it names are locked FOR KEY SHARE as the foreign key locked them (a
# concurrent delete of the session waits for the insert's transaction); deleting or truncating sessions deletes their
# rows, as `on delete cascade` and `truncate … cascade` did.
SESSION_CHECK_SQL = """
do $$
declare
    constraint_name text;
begin
    for constraint_name in
        select conname from pg_constraint
        where conrelid = 't5_session_examples'::regclass and contype = 'f'
          and confrelid = 't5_training_sessions'::regclass
    loop
        execute format('alter table t5_session_examples drop constraint %I', constraint_name);
    end loop;
end $$;

create or replace function rxt5_session_examples_session_exists() returns trigger
    language plpgsql as $fn$
declare
    named bigint;
    present bigint;
begin
    select count(distinct training_session_id) into named from linked;
    perform 1 from t5_training_sessions where id in (select training_session_id from linked) for key share;
    get diagnostics present = row_count;
    if present < named then
        raise foreign_key_violation using
            message = 'insert or update on table "t5_session_examples": a row names a training session that is not '
                      || 'in t5_training_sessions';
    end if;
    return null;
end
$fn$;
drop trigger if exists t5_session_examples_session_inserted on t5_session_examples;
create trigger t5_session_examples_session_inserted after insert on t5_session_examples
    referencing new table as linked for each statement execute function rxt5_session_examples_session_exists();
drop trigger if exists t5_session_examples_session_updated on t5_session_examples;
create trigger t5_session_examples_session_updated after update on t5_session_examples
    referencing new table as linked for each statement execute function rxt5_session_examples_session_exists();

create or replace function rxt5_sessions_deleted() returns trigger
    language plpgsql as $fn$
begin
    delete from t5_session_examples where training_session_id in (select id from gone);
    return null;
end
$fn$;
drop trigger if exists t5_training_sessions_deleted on t5_training_sessions;
create trigger t5_training_sessions_deleted after delete on t5_training_sessions
    referencing old table as gone for each statement execute function rxt5_sessions_deleted();

create or replace function rxt5_sessions_truncated() returns trigger
    language plpgsql as $fn$
begin
    truncate t5_session_examples;
    return null;
end
$fn$;
drop trigger if exists t5_training_sessions_truncated on t5_training_sessions;
create trigger t5_training_sessions_truncated after truncate on t5_training_sessions
    for each statement execute function rxt5_sessions_truncated();
"""


# Example contents are only ever deleted by hand (the README's prune, a truncate). A retrain links the content ids a
# previous run stored without looking each one up, so it needs to know whether any content was deleted since: one
# counter, bumped once per deleting statement, read by the data stage when it stores (sessions.contents_epoch).
# And a session's id may not change while rows link it (what the foreign key before migration 8 refused).
CONTENTS_EPOCH_SQL = """
create table if not exists rxt5_contents_epoch (
    one       boolean primary key default true check (one),
    deletions bigint not null default 0
);
insert into rxt5_contents_epoch (one, deletions) values (true, 0) on conflict do nothing;

create or replace function rxt5_contents_deleted() returns trigger
    language plpgsql as $fn$
begin
    update rxt5_contents_epoch set deletions = deletions + 1;
    return null;
end
$fn$;
drop trigger if exists t5_example_contents_deleted on t5_example_contents;
create trigger t5_example_contents_deleted after delete on t5_example_contents
    for each statement execute function rxt5_contents_deleted();
drop trigger if exists t5_example_contents_truncated on t5_example_contents;
create trigger t5_example_contents_truncated after truncate on t5_example_contents
    for each statement execute function rxt5_contents_deleted();

create or replace function rxt5_session_id_kept() returns trigger
    language plpgsql as $fn$
begin
    if exists (select 1 from t5_session_examples where training_session_id = old.id) then
        raise foreign_key_violation using
            message = 'update on table "t5_training_sessions": rows of t5_session_examples still link session '
                      || old.id;
    end if;
    return new;
end
$fn$;
drop trigger if exists t5_training_sessions_id_kept on t5_training_sessions;
create trigger t5_training_sessions_id_kept before update of id on t5_training_sessions
    for each row when (old.id is distinct from new.id) execute function rxt5_session_id_kept();
"""


MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "seed schema",
        """
        create table if not exists code_chunks (
            id           bigserial primary key,
            content      text,
            language     text,
            file_path    text,
            repo         text,
            inserted_at  timestamptz not null default now(),
            -- computed by the server so rows written by any indexer get it too
            content_hash text generated always as (md5(content)) stored,
            item_kind    text,
            item_name    text,
            start_line   integer,
            end_line     integer
        );
        -- re-ingesting the same tree is a no-op; a changed file adds only its new chunks
        create unique index if not exists code_chunks_location_content_key
            on code_chunks (repo, file_path, content_hash);
        -- the seed's per-language selection, and the sensor's "rows with id > cursor"
        create index if not exists code_chunks_language_id_idx on code_chunks (language, id);

        create table if not exists t5_training_sessions (
            id              uuid primary key default gen_random_uuid(),
            name            text not null,
            status          text not null default 'preparing'
                check (status in ('preparing', 'prepared', 'training', 'interrupted', 'completed', 'failed')),
            languages       text[] not null default '{}',
            config          jsonb not null default '{}'::jsonb,
            stats           jsonb not null default '{}'::jsonb,
            example_count   integer,
            max_code_chunk_id bigint,
            dagster_run_id  text,
            error           text,
            inserted_at     timestamptz not null default now(),
            updated_at      timestamptz not null default now(),
            completed_at    timestamptz
        );
        create index if not exists t5_training_sessions_inserted_idx on t5_training_sessions (inserted_at desc);

        create table if not exists t5_training_examples (
            id                  bigserial primary key,
            training_session_id uuid not null references t5_training_sessions (id) on delete cascade,
            code_chunk_id       bigint references code_chunks (id) on delete set null,
            language            text not null,
            task                text not null,
            input               text not null,
            target              text not null,
            quality_score       real not null check (quality_score >= 0 and quality_score <= 1),
            quality_breakdown   jsonb not null default '{}'::jsonb,
            split               text check (split in ('train', 'eval')),
            repo                text,
            file_path           text,
            inserted_at         timestamptz not null default now()
        );
        create index if not exists t5_training_examples_session_idx
            on t5_training_examples (training_session_id, language, task);

        create table if not exists t5_model_versions (
            id                  uuid primary key default gen_random_uuid(),
            version             text not null unique,
            base_model          text not null,
            training_session_id uuid references t5_training_sessions (id) on delete set null,
            adapter_path        text,
            status              text not null default 'trained'
                check (status in ('trained', 'evaluated', 'rejected', 'active', 'retired')),
            hyperparameters     jsonb not null default '{}'::jsonb,
            performance_metrics jsonb not null default '{}'::jsonb,
            evaluation_results  jsonb not null default '{}'::jsonb,
            is_active           boolean not null default false,
            inserted_at         timestamptz not null default now(),
            activated_at        timestamptz
        );
        -- at most one active version, enforced by the database itself
        create unique index if not exists t5_model_versions_single_active
            on t5_model_versions (is_active) where is_active;

        create table if not exists t5_training_progress (
            id                    bigserial primary key,
            training_session_id   uuid not null references t5_training_sessions (id) on delete cascade,
            kind                  text not null default 'train' check (kind in ('train', 'eval')),
            epoch                 double precision not null,
            step                  integer not null,
            loss                  double precision,
            eval_loss             double precision,
            learning_rate         double precision,
            training_time_seconds double precision,
            inserted_at           timestamptz not null default clock_timestamp(),
            unique (training_session_id, kind, step)
        );

        create table if not exists t5_evaluation_results (
            id                  bigserial primary key,
            model_version_id    uuid references t5_model_versions (id) on delete cascade,
            training_session_id uuid references t5_training_sessions (id) on delete set null,
            compared_to_version_id uuid references t5_model_versions (id) on delete set null,
            language            text not null,
            metric              text not null,
            value               double precision not null,
            sample_count        integer,
            details             jsonb not null default '{}'::jsonb,
            inserted_at         timestamptz not null default now()
        );
        create index if not exists t5_evaluation_results_version_idx
            on t5_evaluation_results (model_version_id, language, metric);
        """,
    ),
    (
        2,
        "per-language and per-task eval losses on progress rows",
        """
        -- eval rows: {"eval_loss_by_language": {"rust": ..}, "eval_loss_by_task": {..}, "eval_tokens": n};
        -- the seed's columns stay as they are, so its progress query still runs verbatim
        alter table t5_training_progress add column if not exists metrics jsonb not null default '{}'::jsonb;
        """,
    ),
    (
        3,
        "evaluations and deployments",
        """
        -- one evaluation run: a candidate against the active version (or the bare base) and the template floor
        create table if not exists t5_evaluations (
            id                   uuid primary key default gen_random_uuid(),
            candidate_version_id uuid references t5_model_versions (id) on delete cascade,
            active_version_id    uuid references t5_model_versions (id) on delete set null,
            dataset_session_id   uuid references t5_training_sessions (id) on delete set null,
            status               text not null default 'running'
                check (status in ('running', 'completed', 'failed')),
            eval_file            text,
            rows_total           integer,
            rows_used            integer,
            sample_seed          integer,
            settings             jsonb not null default '{}'::jsonb,
            summary              jsonb not null default '{}'::jsonb,
            decision             jsonb not null default '{}'::jsonb,
            passed               boolean,
            seconds              double precision,
            dagster_run_id       text,
            error                text,
            inserted_at          timestamptz not null default now(),
            completed_at         timestamptz
        );
        create index if not exists t5_evaluations_candidate_idx
            on t5_evaluations (candidate_version_id, inserted_at desc);

        -- the rows of one evaluation, for every system in it (details.role: candidate | active | template)
        alter table t5_evaluation_results
            add column if not exists evaluation_id uuid references t5_evaluations (id) on delete cascade;
        create index if not exists t5_evaluation_results_evaluation_idx on t5_evaluation_results (evaluation_id);

        -- every switch of the active version, in order: what `rxt5 rollback` walks back through
        create table if not exists t5_deployments (
            id                     bigserial primary key,
            model_version_id       uuid not null references t5_model_versions (id) on delete cascade,
            previous_version_id    uuid references t5_model_versions (id) on delete set null,
            -- the deployment `rxt5 rollback` restores from here: the history is a stack, a rollback pops it
            rollback_to_id         bigint references t5_deployments (id) on delete set null,
            action                 text not null
                check (action in ('promote', 'deploy', 'switch_base', 'switch_fine_tuned', 'rollback')),
            forced                 boolean not null default false,
            evaluation_id          uuid references t5_evaluations (id) on delete set null,
            reason                 text,
            deployed_path          text,
            inserted_at            timestamptz not null default clock_timestamp()
        );
        create index if not exists t5_deployments_inserted_idx on t5_deployments (id desc);
        """,
    ),
    (
        4,
        "chunk analyses cache",
        """
        -- the data stage's per-chunk analysis (parse, patterns, indicators, concepts, names), keyed by what it depends
        -- on: the content, its language and the analyser's version (a hash of the language module's source, see
        -- rxt5_assets/data/analysis_cache.py); a materialization analyses only the chunks missing here
        create table if not exists chunk_analyses (
            content_hash      text not null,
            language          text not null,
            analyser_version  text not null,
            failed            boolean not null,  -- no item recognised and syntax errors in its own language
            kind              text,
            name              text,
            doc               text,
            signature         text,
            code_without_docs text,  -- null: the content itself
            tests             text,
            closing           text,
            patterns          text,  -- space-joined, sorted
            concepts          text,  -- space-joined, sorted
            names             text,  -- space-joined
            has_syntax_error  boolean,
            letter_share      double precision,
            indicators        text,  -- JSON object
            inserted_at       timestamptz not null default now(),
            primary key (content_hash, language, analyser_version)
        );
        -- deleting code_chunks rows sets t5_training_examples.code_chunk_id to null: without this index every
        -- deleted chunk scanned every stored example (1,000 deletions next to 1.5 M examples: 14 minutes)
        create index if not exists t5_training_examples_code_chunk_idx on t5_training_examples (code_chunk_id);
        """,
    ),
    (
        5,
        "retrieval: full-text search column and index on code_chunks, pgvector embeddings",
        RETRIEVAL_SQL,
    ),
    (
        6,
        "one model version per training session",
        """
        -- registering a version is idempotent per session (pipeline.train_and_register): the database enforces it
        -- too, unless an older database already holds duplicates (the race this fixes), which are left as they are
        do $$
        begin
            if not exists (select 1 from t5_model_versions where training_session_id is not null
                           group by training_session_id having count(*) > 1) then
                create unique index if not exists t5_model_versions_one_per_session
                    on t5_model_versions (training_session_id) where training_session_id is not null;
            end if;
        end $$;
        """,
    ),
    (
        7,
        "sessions share example rows: t5_example_contents + t5_session_examples, t5_training_examples a view",
        SHARED_EXAMPLES_SQL,
    ),
    (
        8,
        "t5_session_examples: the session is checked once per statement instead of a foreign key check per row",
        SESSION_CHECK_SQL,
    ),
    (
        9,
        "a counter of deletions from t5_example_contents (what a retrain checks before it links stored ids); a "
        "session's id is kept while rows link it",
        CONTENTS_EPOCH_SQL,
    ),
]

SCHEMA_VERSION = max(version for version, _, _ in MIGRATIONS)


def applied_versions(conn: psycopg.Connection) -> list[int]:
    exists = conn.execute("select to_regclass('rxt5_schema_migrations') is not null").fetchone()[0]
    if not exists:
        return []
    return [row[0] for row in conn.execute("select version from rxt5_schema_migrations order by version")]


def migrate(conn: psycopg.Connection) -> list[int]:
    """Apply the migrations this database lacks; returns the versions applied now (empty when up to date)."""
    applied_now: list[int] = []
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK_KEY,))
        conn.execute(
            """create table if not exists rxt5_schema_migrations (
                   version integer primary key,
                   name text not null,
                   applied_at timestamptz not null default now())"""
        )
        done = set(applied_versions(conn))
        for version, name, sql in sorted(MIGRATIONS):  # in version order, wherever an entry sits in the list
            if version in done:
                continue
            conn.execute(sql)
            conn.execute("insert into rxt5_schema_migrations (version, name) values (%s, %s)", (version, name))
            applied_now.append(version)
    return applied_now
