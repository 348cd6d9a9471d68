-- Parasol chat: users, threads, messages, tool steps and feedback.
-- Times are Unix milliseconds in BIGINT columns so that SQLite and PostgreSQL store the
-- same values. Thread ids compare with the "C" collation, as SQLite's BINARY does, so
-- that the list order (and so its cursors) is the same on both backends.

CREATE TABLE users (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    email TEXT,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL
);

CREATE TABLE threads (
    id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    owner_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE INDEX threads_by_owner_recent ON threads (owner_id, updated_at DESC, id DESC);

CREATE TABLE messages (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    thread_id TEXT COLLATE "C" NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content TEXT NOT NULL,
    html TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('complete', 'generating', 'interrupted', 'stopped')),
    error TEXT,
    input_tokens BIGINT,
    output_tokens BIGINT,
    created_at BIGINT NOT NULL,
    UNIQUE (thread_id, seq)
);

CREATE INDEX messages_generating ON messages (status) WHERE status = 'generating';

CREATE TABLE steps (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id BIGINT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    tool_name TEXT NOT NULL,
    tool_call_id TEXT NOT NULL,
    input_json TEXT NOT NULL,
    output TEXT,
    is_error BOOLEAN NOT NULL DEFAULT FALSE,
    started_at BIGINT NOT NULL,
    duration_ms BIGINT,
    UNIQUE (message_id, seq)
);

CREATE TABLE feedback (
    message_id BIGINT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    value BIGINT NOT NULL CHECK (value IN (-1, 1)),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (message_id, user_id)
);
