//! The PostgreSQL driver of the tasker store.
