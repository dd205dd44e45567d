//! listening tests.
