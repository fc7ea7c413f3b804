//! Filled in by the admin API test suite.
