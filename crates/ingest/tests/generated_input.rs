//! Bounded property tests on generated input, the stable-Rust counterpart of the cargo-fuzz
//! targets in `fuzz/`: a few thousand seeded inputs (random bytes, mutated CSV and TOML,
//! truncations) go through the CSV reading path and the ingest configuration parser. Any
//! `Err` is a correct result for malformed input, and a panic fails the test and prints the input.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use common::NoProgress;
use ingest::{IngestConfig, Registry};

/// SplitMix64: a small seeded generator, so that every run feeds the same inputs.
struct Generator(u64);

impl Generator {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Returns a number in `0..bound`, which must not be empty.
    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Bytes that CSV and TOML readers treat specially, used by the mutations.
const SPECIAL: &[&[u8]] = &[
    b"\"",
    b",",
    b"\n",
    b"\r\n",
    b"\r",
    b"\0",
    b"\xff",
    b"\xc3",
    b";",
    b"\t",
    b"=",
    b"[",
    b"]",
    b"{",
    b"}",
    b"#",
    b"NaN",
    b"inf",
    b"-0",
    b"1e999",
    b"",
    b"?",
    b"NA",
    b"\xe2\x80\xa8",
];

/// Applies one to four random edits: a flipped byte, an inserted special sequence, a deleted
/// range, a duplicated range or a truncation.
fn mutate(generator: &mut Generator, mut bytes: Vec<u8>) -> Vec<u8> {
    let edits = 1 + generator.below(4);
    for _ in 0..edits {
        let at = generator.below(bytes.len() + 1);
        match generator.below(5) {
            0 if at < bytes.len() => bytes[at] ^= 1 << generator.below(8),
            1 => {
                let special = *generator.pick(SPECIAL);
                bytes.splice(at..at, special.iter().copied());
            }
            2 => {
                let end = (at + generator.below(16)).min(bytes.len());
                bytes.drain(at..end);
            }
            3 => {
                let end = (at + generator.below(64)).min(bytes.len());
                let copy = bytes[at..end].to_vec();
                bytes.splice(at..at, copy);
            }
            _ => bytes.truncate(at),
        }
    }
    bytes
}

/// Returns random bytes, a mutated seed, or a truncated seed, one third each.
fn generate(generator: &mut Generator, seeds: &[&[u8]]) -> Vec<u8> {
    match generator.below(3) {
        0 => (0..generator.below(256)).map(|_| generator.next() as u8).collect(),
        1 => {
            let seed = generator.pick(seeds).to_vec();
            mutate(generator, seed)
        }
        _ => {
            let seed = generator.pick(seeds);
            seed[..generator.below(seed.len() + 1)].to_vec()
        }
    }
}

/// Runs `check` on `input`, and on a panic fails with the case number and the input.
fn check_no_panic(case: usize, input: &[u8], check: impl FnOnce()) {
    if catch_unwind(AssertUnwindSafe(check)).is_err() {
        panic!("case {case} panicked on input {:?}", String::from_utf8_lossy(input));
    }
}

/// Rows in the credit-card layout, cut to a few columns, with the label column `label`.
const CSV_SEEDS: &[&[u8]] = &[
    b"Time,V1,V2,Amount,label\n0,-1.3598,-0.0727,149.62,0\n1,1.1918,0.2661,2.69,1\n",
    b"id,text,label\n1,\"a, b\",0\n2,\"first line\nsecond line\",1\n3,plain,0\n",
    b"a,b,label\n1,,0\n2,NA,1\n,3,0\n?,nan,1\n",
    b"\xef\xbb\xbfx,label\r\n1.5,0\r\n-2e3,1\r\n",
];

#[test]
fn generated_csv_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input.csv");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let registry = Registry::parse("", Path::new("empty.toml")).unwrap();
    let mut config: IngestConfig =
        toml::from_str(r#"label = { column = "label", anomaly = ["1"], normal = ["0"] }"#).unwrap();
    config.path = Some(path.clone());

    let mut generator = Generator(0x5eed_c5f0);
    let mut ingested = 0;
    for case in 0..3000 {
        let input = generate(&mut generator, CSV_SEEDS);
        std::fs::write(&path, &input).unwrap();
        check_no_panic(case, &input, || {
            let Ok(source) = ingest::resolve(&config, &registry, dir.path(), &NoProgress) else {
                return;
            };
            if ingest::run(&config, &source, None, &out, &NoProgress).is_ok() {
                ingested += 1;
            }
        });
    }
    // The mutations must leave enough files readable that the checks reach the Parquet writer.
    assert!(ingested >= 100, "only {ingested} of 3000 generated files were ingested");
}

/// Ingest stage tables as the experiment files write them, without `kind` and `inputs`.
const CONFIG_SEEDS: &[&[u8]] = &[
    b"dataset = \"creditcard-sample\"\nlabel = { column = \"Class\", anomaly = [\"1\"], normal = [\"0\"] }\n",
    b"path = \"my.csv\"\nsha256 = \"00\"\nlabel = { column = \"y\", anomaly = [\"1\"] }\nheader = false\ncolumns = [\"a\", \"y\"]\ndelimiter = \";\"\n",
    b"dataset = \"nsl-kdd-train\"\nlabel = { column = \"class\", normal = [\"normal\"] }\ntest = { dataset = \"nsl-kdd-test\" }\nmissing = [\"?\"]\nformat = \"csv\"\n",
];

#[test]
fn generated_ingest_config_never_panics() {
    let mut generator = Generator(0x5eed_c0f1);
    let mut parsed = 0;
    for case in 0..3000 {
        let input = generate(&mut generator, CONFIG_SEEDS);
        let Ok(text) = std::str::from_utf8(&input) else { continue };
        check_no_panic(case, &input, || {
            if let Ok(config) = toml::from_str::<IngestConfig>(text) {
                parsed += 1;
                let _ = config.validate();
            }
        });
    }
    assert!(parsed >= 50, "only {parsed} of 3000 generated tables were parsed");
}
