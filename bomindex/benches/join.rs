//! The policy-join speed goal: one image's 5,000 components against 100,000 advisory purls in
//! ≤ 5 ms. `cargo bench -p bomindex --bench join`; `STELLA_BENCH_RUNS` (default 15) runs of
//! `STELLA_BENCH_ITERS` (default 50) joins, printing the median time per join. The data is
//! generated deterministically: realistic purls over deb, npm, pypi, maven and golang, an advisory
//! list that names ~5% of the image's packages (half version-less, half at the exact version).

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::indexing_slicing)]

use std::hint::black_box;
use std::time::Instant;

use bomindex::{BomIndex, Component, IndexBuilder, PurlSet};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const SYLLABLES: &[&str] = &[
    "lib", "core", "http", "json", "ssl", "xml", "util", "net", "log", "yaml", "crypt", "zip",
    "parse", "async", "io", "path", "data", "time", "auth", "web",
];

fn name(rng: &mut Rng) -> String {
    let n = 1 + rng.below(3);
    (0..n)
        .map(|_| SYLLABLES[rng.below(SYLLABLES.len() as u64) as usize])
        .collect::<Vec<_>>()
        .join("-")
        + &rng.below(1000).to_string()
}

/// (versioned purl, version-less purl).
fn purl(rng: &mut Rng) -> (String, String) {
    let n = name(rng);
    let v = format!("{}.{}.{}", rng.below(10), rng.below(30), rng.below(50));
    match rng.below(5) {
        0 => (
            format!("pkg:deb/debian/{n}@{v}-1?arch=amd64&distro=debian-12"),
            format!("pkg:deb/debian/{n}"),
        ),
        1 => (format!("pkg:npm/{n}@{v}"), format!("pkg:npm/{n}")),
        2 => (format!("pkg:pypi/{n}@{v}"), format!("pkg:pypi/{n}")),
        3 => (
            format!("pkg:maven/org.{n}/{n}-core@{v}"),
            format!("pkg:maven/org.{n}/{n}-core"),
        ),
        _ => (
            format!("pkg:golang/github.com/{n}/{n}@v{v}"),
            format!("pkg:golang/github.com/{n}/{n}"),
        ),
    }
}

fn main() {
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let runs = env("STELLA_BENCH_RUNS", 15);
    let iters = env("STELLA_BENCH_ITERS", 50);
    let mut rng = Rng(0x0b0e_1d3c_5a17_2026);
    let components: Vec<(String, String)> = (0..5_000).map(|_| purl(&mut rng)).collect();
    let mut b = IndexBuilder::new([0; 32]);
    for (i, (p, _)) in components.iter().enumerate() {
        b.component(Component {
            purl: p.clone(),
            layer: Some((i % 8) as u32),
            used_by_entrypoint: i % 3 == 0,
        });
    }
    let bytes = b.build().unwrap();
    let index = BomIndex::open(&bytes).unwrap();

    let mut advisories: Vec<String> = Vec::with_capacity(100_000);
    for (i, (p, bare)) in components.iter().enumerate().filter(|(i, _)| i % 20 == 0) {
        advisories.push(if i % 40 == 0 {
            bare.clone()
        } else {
            p.split('?').next().unwrap().to_owned()
        });
    }
    let mut distinct: std::collections::HashSet<String> = advisories.iter().cloned().collect();
    while distinct.len() < 100_000 {
        let (p, bare) = purl(&mut rng);
        let q = if rng.below(2) == 0 { p } else { bare };
        if distinct.insert(q.clone()) {
            advisories.push(q);
        }
    }
    let t = Instant::now();
    let set = PurlSet::new(&advisories);
    let prepare = t.elapsed().as_secs_f64() * 1000.0;

    let hits = index.join(&set);
    let mut per = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        for _ in 0..iters {
            black_box(index.join(black_box(&set)));
        }
        per.push(t.elapsed().as_secs_f64() * 1000.0 / iters as f64);
    }
    per.sort_by(f64::total_cmp);
    let t = Instant::now();
    for _ in 0..iters {
        black_box(BomIndex::open(black_box(&bytes)).unwrap());
    }
    let open = t.elapsed().as_secs_f64() * 1000.0 / iters as f64;
    println!(
        "join {} components x {} advisory purls -> {} hits: median {:.3} ms (min {:.3}, max {:.3}; \
         {runs} runs x {iters}); open+validate index ({} bytes) {:.3} ms; PurlSet::new once {:.1} ms",
        index.len(),
        set.len(),
        hits.len(),
        per[per.len() / 2],
        per[0],
        per[per.len() - 1],
        bytes.len(),
        open,
        prepare,
    );
}
