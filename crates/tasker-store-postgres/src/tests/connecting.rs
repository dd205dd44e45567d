//! connecting tests.
