//! dotnet analyzer (issue 3): filled in by its own change.
