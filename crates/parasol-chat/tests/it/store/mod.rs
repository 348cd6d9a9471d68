//! The store, every behaviour checked on SQLite and on PostgreSQL.

mod access;
mod answers;
mod backends;
mod connect;
mod feedback;
mod threads;
mod users;
