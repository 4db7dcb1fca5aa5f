//! EntryTrace: from the image config's Entrypoint/Cmd to the program that actually runs (issue 3).

pub mod shell;
