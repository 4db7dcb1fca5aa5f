#![no_main]
//! What the frontend parses from buildkitd and the caller: `BUILDKIT_FRONTEND_OPT_<i>` options and
//! our `build-arg:STELLA_*` settings, result metadata JSON (`refs.platforms`,
//! `containerimage.config`), and the protobuf replies it takes apart (a result ref's LLB
//! definition, Solve / ReadDir replies). Any bytes give a value or an error, never a panic.

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use prost::Message as _;
use stella_frontend::llb::Builder;
use stella_frontend::meta::{config_for, parse_config, platform_ids, CONFIG_KEY, PLATFORMS_KEY};
use stella_frontend::options::{forwarded, inner_frontend, parse_env, Settings};
use stella_frontend::proto::gw::{PongResponse, ReadDirResponse, SolveResponse};
use stella_frontend::proto::pb::Definition;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let vars = text
        .lines()
        .enumerate()
        .map(|(i, l)| (format!("BUILDKIT_FRONTEND_OPT_{i}"), l.to_owned()));
    if let Ok(opts) = parse_env(vars) {
        if let Ok(s) = Settings::from_options(&opts) {
            let f = forwarded(&opts, &s);
            let _ = inner_frontend(&s);
            // Ours are never forwarded; cmdline always is.
            assert!(f.keys().all(|k| !k.starts_with("build-arg:STELLA_")));
            assert!(f.contains_key("cmdline"));
        }
    }

    let mut metadata = BTreeMap::new();
    metadata.insert(PLATFORMS_KEY.to_owned(), data.to_vec());
    metadata.insert(CONFIG_KEY.to_owned(), data.to_vec());
    let _ = platform_ids(&metadata);
    let _ = config_for(&metadata, Some("linux/amd64"));
    let _ = parse_config(data);

    if let Ok(def) = Definition::decode(data) {
        let mut b = Builder::new();
        if let Ok(out) = b.import(&def) {
            let _ = b.build(&out);
        }
    }
    let _ = SolveResponse::decode(data);
    let _ = ReadDirResponse::decode(data);
    let _ = PongResponse::decode(data);
});
