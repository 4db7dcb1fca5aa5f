//! `stella-generator`: the entrypoint of the generator image.

fn main() {}
