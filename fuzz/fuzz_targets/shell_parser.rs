#![no_main]
//! EntryTrace: the POSIX shell parser, and `trace` over an image holding the input as its entrypoint
//! script (run through `#!/bin/sh`, `sh -c` and `source`).

use libfuzzer_sys::fuzz_target;
use scanner_core::entrytrace::{self, shell, ImageConfig, TraceFs};

struct Fs<'a>(&'a [u8]);

const ELF: &[u8] = b"\x7fELF\x02\x01\x01";

impl Fs<'_> {
    fn real(path: &str) -> String {
        let p = path.trim_start_matches('/');
        match p {
            "bin/sh" | "usr/bin/sh" | "bin/dash" => "usr/bin/dash".to_owned(),
            "bin/bash" => "usr/bin/bash".to_owned(),
            _ => p.to_owned(),
        }
    }
}

impl TraceFs for Fs<'_> {
    fn stat(&self, path: &str) -> Option<(String, u32)> {
        let real = Self::real(path);
        match real.as_str() {
            "entrypoint.sh" | "lib.sh" | "usr/bin/dash" | "usr/bin/bash" | "usr/bin/env"
            | "usr/bin/node" | "usr/bin/java" | "usr/bin/python3" | "usr/local/bin/app"
            | "usr/bin/gosu" | "usr/bin/tini" => Some((real, 0o755)),
            _ => None,
        }
    }

    fn read(&self, path: &str) -> Option<Vec<u8>> {
        let real = Self::real(path);
        match real.as_str() {
            "entrypoint.sh" => {
                let mut v = b"#!/bin/sh\n".to_vec();
                v.extend_from_slice(self.0);
                Some(v)
            }
            "lib.sh" => Some(self.0.to_vec()),
            "usr/local/bin/app" => Some(self.0.to_vec()),
            _ if self.stat(path).is_some() => Some(ELF.to_vec()),
            _ => None,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let parsed = shell::parse(data);
    if let Some(e) = &parsed.error {
        assert!(e.line >= 1);
    }
    let fs = Fs(data);
    let configs = [
        ImageConfig {
            entrypoint: vec!["/entrypoint.sh".into()],
            cmd: vec!["app".into(), "-x".into()],
            working_dir: Some("/".into()),
            env: vec!["A=1".into()],
        },
        ImageConfig {
            entrypoint: vec!["/bin/sh".into(), "-c".into()],
            cmd: vec![String::from_utf8_lossy(data).into_owned(), "sh".into(), "arg".into()],
            ..ImageConfig::default()
        },
        ImageConfig {
            entrypoint: vec!["sh".into(), "-c".into(), ". /lib.sh; exec \"$@\"".into(), "sh".into()],
            cmd: vec!["app".into()],
            ..ImageConfig::default()
        },
    ];
    for c in &configs {
        let t = entrytrace::trace(c, &fs);
        assert!(t.chain.len() <= entrytrace::MAX_STEPS);
        assert!(t.terminals.len() <= entrytrace::MAX_TERMINALS);
    }
});
