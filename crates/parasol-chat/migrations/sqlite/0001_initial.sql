-- Parasol chat: users, threads, messages, tool steps and feedback.
-- Times are Unix milliseconds in INTEGER columns so that SQLite and PostgreSQL store the
-- same values. AUTOINCREMENT keeps ids from being reused after a delete, as PostgreSQL's
-- identity columns do.

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subject TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    email TEXT,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL
);

CREATE TABLE threads (
    id TEXT NOT NULL PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE INDEX threads_by_owner_recent ON threads (owner_id, updated_at DESC, id DESC);

CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    thread_id TEXT NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content TEXT NOT NULL,
    html TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('complete', 'generating', 'interrupted', 'stopped')),
    error TEXT,
    input_tokens INTEGER,
    output_tokens INTEGER,
    created_at INTEGER NOT NULL,
    UNIQUE (thread_id, seq)
);

CREATE INDEX messages_generating ON messages (status) WHERE status = 'generating';

CREATE TABLE steps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    tool_name TEXT NOT NULL,
    tool_call_id TEXT NOT NULL,
    input_json TEXT NOT NULL,
    output TEXT,
    is_error BOOLEAN NOT NULL DEFAULT FALSE,
    started_at INTEGER NOT NULL,
    duration_ms INTEGER,
    UNIQUE (message_id, seq)
);

CREATE TABLE feedback (
    message_id INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    value INTEGER NOT NULL CHECK (value IN (-1, 1)),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (message_id, user_id)
);
