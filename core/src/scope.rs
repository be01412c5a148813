//! Scoping: assignments and scoping filters.
