//! A POSIX shell parser for EntryTrace (issue 3): filled in by its own change.
