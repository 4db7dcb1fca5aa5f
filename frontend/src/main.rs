//! `stella-frontend`: the entrypoint of the frontend image (gRPC over stdin/stdout).

fn main() {}
