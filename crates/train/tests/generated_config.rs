//! Bounded property tests on generated TOML, the stable-Rust counterpart of the
//! `experiment_config` cargo-fuzz target in `fuzz/`: a few thousand seeded inputs (random
//! bytes, mutated and truncated stage tables) are read as a `TrainConfig` and an
//! `EvaluateConfig` and validated. Any `Err` is a correct result for malformed input, and a panic
//! fails the test and prints the input.

use std::panic::{AssertUnwindSafe, catch_unwind};

use evaluate::EvaluateConfig;
use train::TrainConfig;

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

/// Train and evaluate stage tables as the experiment files write them, without `kind` and
/// `inputs`.
const SEEDS: &[&[u8]] = &[
    b"model = \"mlp\"\nhidden = [64, 32]\ndropout = 0.1\nlearning_rate = 0.001\nweight_decay = 0.0001\nepochs = 40\nbatch_size = 128\npatience = 8\npositive_weight = \"auto\"\nloss = \"focal\"\nfocal_gamma = 2.0\n",
    b"model = \"autoencoder\"\nencoder = [20, 8]\nlearning_rate = 0.001\nepochs = 60\nbatch_size = 64\npatience = 10\ntrain_on = \"normal\"\n",
    b"model = \"vae\"\nencoder = [16, 8]\nbeta = 1.0\nscore = \"elbo\"\noptimizer = \"adam\"\nactivation = \"relu\"\n",
    b"model = \"deep_svdd\"\nencoder = [64, 32]\nweight_decay = 1e-6\n",
    b"model = \"isolation_forest\"\ntrees = 100\nmax_samples = 256\ntrain_on = \"all\"\n",
    b"model = \"pca\"\nvariance = 0.95\nstandardize = true\n",
    b"target_recall = 0.8\ncurve_points = 400\n",
];

#[test]
fn generated_stage_configs_never_panic() {
    let mut generator = Generator(0x5eed_7a1e);
    let mut parsed = 0;
    for case in 0..4000 {
        let input = generate(&mut generator, SEEDS);
        let Ok(text) = std::str::from_utf8(&input) else { continue };
        check_no_panic(case, &input, || {
            if let Ok(config) = toml::from_str::<TrainConfig>(text) {
                parsed += 1;
                let _ = config.validate();
            }
            if let Ok(config) = toml::from_str::<EvaluateConfig>(text) {
                parsed += 1;
                let _ = config.validate();
            }
        });
    }
    assert!(parsed >= 50, "only {parsed} of 4000 generated tables were parsed");
}
