//! Isolation Forest (Liu, Ting and Zhou, "Isolation Forest", ICDM 2008).
//!
//! Each tree is grown on `ψ = min(max_samples, rows)` rows drawn without replacement, up to
//! the height limit `ceil(log2 ψ)`. A node splits on a feature drawn uniformly among those
//! that are not constant in its rows (Liu et al. draw among all features, but a constant one
//! cannot split), at a value drawn uniformly in `[min, max)` of that
//! feature there. Rows with a value below the split go left. A row's path length `h(x)` is the
//! number of edges to its leaf plus `c(size)` for the training rows left unseparated in that
//! leaf, and its score is `s(x) = 2^(-E[h(x)] / c(ψ))` with the mean taken over the trees.
//! Scores lie in (0, 1), and rows isolated early score near 1.

use std::collections::HashMap;

use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{Error, IsolationForestSpec, Result};

/// The Euler-Mascheroni constant, for the estimate `H(i) ≈ ln(i) + γ` of the harmonic number.
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// Returns `c(n)`, the average path length of an unsuccessful search in a binary search tree
/// of `n` keys, which normalises path lengths.
///
/// `c(n) = 2 H(n - 1) - 2 (n - 1) / n` for `n > 2`, with `H(i) ≈ ln(i) + γ`. The exact values
/// `c(2) = 1` and `c(n) = 0` for `n < 2` cover the rest.
pub fn average_path_length(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        n => {
            let n = n as f64;
            2.0 * ((n - 1.0).ln() + EULER_GAMMA) - 2.0 * (n - 1.0) / n
        }
    }
}

/// One node of a tree.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Node {
    feature: u32,
    threshold: f64,
    left: u32,
    right: u32,
    size: u32,
}

impl Node {
    fn leaf(size: usize) -> Node {
        Node { feature: 0, threshold: 0.0, left: 0, right: 0, size: size as u32 }
    }

    fn is_leaf(&self) -> bool {
        self.left == 0
    }
}

/// A fitted isolation forest.
///
/// [`to_tensors`](Self::to_tensors) returns it as node arrays, every tree in pre-order one
/// after the other, which [`Detector::save`](crate::Detector::save) writes as safetensors:
///
/// | tensor | dtype | shape | content |
/// |---|---|---|---|
/// | `feature` | U32 | (nodes,) | split feature, a column index (0 for leaves) |
/// | `threshold` | F64 | (nodes,) | split value (0 for leaves) |
/// | `left`, `right` | U32 | (nodes,) | child indices, greater than the node's own (0 for leaves) |
/// | `size` | U32 | (nodes,) | training rows that reached the node |
/// | `roots` | U32 | (trees,) | index of each tree's root |
///
/// Index 0 is the first root and never a child, so `left = right = 0` marks a leaf, and the
/// size of every root is `ψ`.
#[derive(Debug, Clone, PartialEq)]
pub struct IsolationForest {
    nodes: Vec<Node>,
    roots: Vec<u32>,
    features: usize,
}

/// Rows of a row-major matrix, for growing trees.
struct Rows<'a> {
    values: &'a [f32],
    width: usize,
}

impl Rows<'_> {
    fn value(&self, row: usize, feature: usize) -> f64 {
        f64::from(self.values[row * self.width + feature])
    }
}

impl IsolationForest {
    /// Grows `spec.trees` trees on the rows of a row-major matrix with `spec.features.len()`
    /// columns, with subsamples and splits drawn from a generator seeded with `seed`.
    pub fn fit(spec: &IsolationForestSpec, values: &[f32], seed: u64) -> Result<IsolationForest> {
        let width = spec.features.len();
        let rows = Rows { values, width };
        let count = values.len() / width.max(1);
        if count < 2 || values.len() != count * width {
            return Err(Error::InvalidData(format!(
                "an isolation forest needs at least 2 rows of {width} values, got {} values",
                values.len()
            )));
        }
        if count > u32::MAX as usize {
            return Err(Error::InvalidData(format!("{count} rows are too many for one forest")));
        }
        let sample_size = spec.max_samples.min(count);
        let height_limit = (sample_size as f64).log2().ceil() as usize;

        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut forest = IsolationForest { nodes: Vec::new(), roots: Vec::new(), features: width };
        for _ in 0..spec.trees {
            let mut sample = rand::seq::index::sample(&mut rng, count, sample_size).into_vec();
            let root = forest.grow(&rows, &mut sample, 0, height_limit, &mut rng);
            forest.roots.push(root);
        }
        Ok(forest)
    }

    /// Grows the subtree of the rows `indices` at `depth` and returns its root's index.
    fn grow(
        &mut self,
        rows: &Rows<'_>,
        indices: &mut [usize],
        depth: usize,
        height_limit: usize,
        rng: &mut ChaCha8Rng,
    ) -> u32 {
        let index = self.nodes.len() as u32;
        self.nodes.push(Node::leaf(indices.len()));
        if depth >= height_limit || indices.len() <= 1 {
            return index;
        }

        // Only a feature that varies in these rows can separate them.
        let mut candidates = Vec::new();
        for feature in 0..rows.width {
            let (min, max) = indices.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |acc, &r| {
                let value = rows.value(r, feature);
                (acc.0.min(value), acc.1.max(value))
            });
            if max > min {
                candidates.push((feature, min, max));
            }
        }
        if candidates.is_empty() {
            return index;
        }
        let (feature, min, max) = candidates[rng.random_range(0..candidates.len())];
        let threshold = rng.random_range(min..max);

        let mut split = 0;
        for i in 0..indices.len() {
            if rows.value(indices[i], feature) < threshold {
                indices.swap(i, split);
                split += 1;
            }
        }
        let (left_rows, right_rows) = indices.split_at_mut(split);
        let left = self.grow(rows, left_rows, depth + 1, height_limit, rng);
        let right = self.grow(rows, right_rows, depth + 1, height_limit, rng);
        let node = &mut self.nodes[index as usize];
        node.feature = feature as u32;
        node.threshold = threshold;
        node.left = left;
        node.right = right;
        index
    }

    /// Returns the number of trees.
    pub fn trees(&self) -> usize {
        self.roots.len()
    }

    /// Returns the number of nodes over all trees.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Returns `ψ`, the rows each tree was grown on.
    pub fn sample_size(&self) -> usize {
        self.roots.first().map_or(0, |&root| self.nodes[root as usize].size as usize)
    }

    /// Returns the path length `h(x)` of a row in the tree rooted at `root`.
    fn path_length(&self, row: &[f32], root: u32) -> f64 {
        let mut node = &self.nodes[root as usize];
        let mut edges = 0usize;
        while !node.is_leaf() {
            let next = if f64::from(row[node.feature as usize]) < node.threshold {
                node.left
            } else {
                node.right
            };
            node = &self.nodes[next as usize];
            edges += 1;
        }
        edges as f64 + average_path_length(node.size as usize)
    }

    /// Returns the anomaly score `2^(-E[h(x)] / c(ψ))` of one row.
    pub fn score_row(&self, row: &[f32]) -> f64 {
        let total: f64 = self.roots.iter().map(|&root| self.path_length(row, root)).sum();
        let mean = total / self.roots.len() as f64;
        // `fit` and `from_tensors` both ensure ψ ≥ 2, so the normaliser is at least 1.
        let normaliser = average_path_length(self.sample_size());
        (-mean / normaliser).exp2()
    }

    /// Returns the score of every row of a row-major matrix.
    pub fn score_rows(&self, values: &[f32]) -> Vec<f64> {
        values.chunks_exact(self.features).map(|row| self.score_row(row)).collect()
    }

    /// Returns the node arrays described in the type's documentation, on the CPU.
    pub fn to_tensors(&self) -> Result<HashMap<String, Tensor>> {
        let column = |f: fn(&Node) -> u32| -> Vec<u32> { self.nodes.iter().map(f).collect() };
        let count = self.nodes.len();
        let mut tensors = HashMap::new();
        for (name, values) in [
            ("feature", column(|n| n.feature)),
            ("left", column(|n| n.left)),
            ("right", column(|n| n.right)),
            ("size", column(|n| n.size)),
        ] {
            tensors.insert(name.to_string(), Tensor::from_vec(values, count, &Device::Cpu)?);
        }
        let thresholds: Vec<f64> = self.nodes.iter().map(|n| n.threshold).collect();
        tensors.insert("threshold".into(), Tensor::from_vec(thresholds, count, &Device::Cpu)?);
        let roots = self.roots.clone();
        tensors.insert("roots".into(), Tensor::from_vec(roots, self.roots.len(), &Device::Cpu)?);
        Ok(tensors)
    }

    /// Rebuilds a forest from its node arrays and checks that every index is in range, so
    /// that scoring cannot fail or loop.
    pub fn from_tensors(
        spec: &IsolationForestSpec,
        tensors: &HashMap<String, Tensor>,
    ) -> std::result::Result<IsolationForest, String> {
        let u32s = |name: &str| -> std::result::Result<Vec<u32>, String> {
            let tensor = tensors.get(name).ok_or_else(|| format!("tensor `{name}` is missing"))?;
            tensor.to_vec1::<u32>().map_err(|e| format!("tensor `{name}`: {e}"))
        };
        let feature = u32s("feature")?;
        let left = u32s("left")?;
        let right = u32s("right")?;
        let size = u32s("size")?;
        let roots = u32s("roots")?;
        let threshold = tensors
            .get("threshold")
            .ok_or("tensor `threshold` is missing")?
            .to_vec1::<f64>()
            .map_err(|e| format!("tensor `threshold`: {e}"))?;
        let count = feature.len();
        if [left.len(), right.len(), size.len(), threshold.len()].iter().any(|&n| n != count) {
            return Err("the node arrays differ in length".into());
        }

        if roots.is_empty() || roots.iter().any(|&root| root as usize >= count) {
            return Err("a root index is out of range, or there are no roots".into());
        }
        let sample_size = size[roots[0] as usize];
        if sample_size < 2 || roots.iter().any(|&root| size[root as usize] != sample_size) {
            return Err("the roots must all have the same size ψ, of at least 2 rows".into());
        }

        let width = spec.features.len();
        for i in 0..count {
            let is_leaf = left[i] == 0 && right[i] == 0;
            if is_leaf {
                continue;
            }
            let children_valid = [left[i], right[i]]
                .iter()
                .all(|&child| (child as usize) > i && (child as usize) < count);
            if !children_valid || feature[i] as usize >= width {
                return Err(format!("node {i} has a child or feature index out of range"));
            }
        }

        let nodes = (0..count)
            .map(|i| Node {
                feature: feature[i],
                threshold: threshold[i],
                left: left[i],
                right: right[i],
                size: size[i],
            })
            .collect();
        Ok(IsolationForest { nodes, roots, features: width })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(features: usize, trees: usize, max_samples: usize) -> IsolationForestSpec {
        IsolationForestSpec {
            features: (0..features).map(|i| format!("f{i}")).collect(),
            trees,
            max_samples,
        }
    }

    /// Returns a 10 x 10 grid of points in [0, 1]^2 followed by one far point at (5, 5).
    fn grid_with_outlier() -> Vec<f32> {
        let mut values = Vec::new();
        for i in 0..10 {
            for j in 0..10 {
                values.extend([i as f32 / 9.0, j as f32 / 9.0]);
            }
        }
        values.extend([5.0, 5.0]);
        values
    }

    #[test]
    fn average_path_length_matches_the_formula() {
        // c(n) = 2 (ln(n - 1) + 0.5772156649) - 2 (n - 1) / n, computed by hand:
        // c(3) = 2 (0.693147 + 0.577216) - 4/3 = 1.207392,
        // c(256) = 2 (5.541264 + 0.577216) - 510/256 = 10.244770.
        assert_eq!(average_path_length(0), 0.0);
        assert_eq!(average_path_length(1), 0.0);
        assert_eq!(average_path_length(2), 1.0);
        assert!((average_path_length(3) - 1.207_392).abs() < 1e-6);
        assert!((average_path_length(256) - 10.244_770).abs() < 1e-6);
    }

    #[test]
    fn obvious_outlier_scores_highest() {
        let values = grid_with_outlier();
        let forest = IsolationForest::fit(&spec(2, 100, 64), &values, 1).unwrap();
        let scores = forest.score_rows(&values);
        let (top, _) = scores.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap();
        assert_eq!(top, 100, "{scores:?}");
        assert!(scores[100] > 0.6, "outlier score {}", scores[100]);
        assert!(scores.iter().all(|&s| s > 0.0), "{scores:?}");
        assert!(scores.iter().all(|&s| s <= 1.0), "{scores:?}");
    }

    #[test]
    fn trees_respect_sample_size_and_height() {
        let values = grid_with_outlier();
        let forest = IsolationForest::fit(&spec(2, 5, 16), &values, 2).unwrap();
        assert_eq!(forest.trees(), 5);
        assert_eq!(forest.sample_size(), 16);
        // A tree over 16 rows with height limit 4 has at most 2^5 - 1 = 31 nodes.
        assert!(forest.node_count() <= 5 * 31, "{} nodes", forest.node_count());
        let forest = IsolationForest::fit(&spec(2, 1, 1000), &values, 2).unwrap();
        assert_eq!(forest.sample_size(), 101);
    }

    #[test]
    fn same_seed_gives_same_forest() {
        let values = grid_with_outlier();
        let a = IsolationForest::fit(&spec(2, 10, 32), &values, 3).unwrap();
        let b = IsolationForest::fit(&spec(2, 10, 32), &values, 3).unwrap();
        let c = IsolationForest::fit(&spec(2, 10, 32), &values, 4).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.score_rows(&values), c.score_rows(&values));
    }

    #[test]
    fn constant_rows_make_a_single_leaf() {
        let values = vec![1.0f32; 20];
        let forest = IsolationForest::fit(&spec(2, 3, 8), &values, 0).unwrap();
        assert_eq!(forest.node_count(), 3);
        // Every row ends in the root leaf of 8 rows: h = c(8), so s = 2^-1.
        assert_eq!(forest.score_row(&[1.0, 1.0]), 0.5);
    }

    #[test]
    fn tensors_round_trip() {
        let values = grid_with_outlier();
        let forest = IsolationForest::fit(&spec(2, 7, 32), &values, 5).unwrap();
        let rebuilt =
            IsolationForest::from_tensors(&spec(2, 7, 32), &forest.to_tensors().unwrap()).unwrap();
        assert_eq!(rebuilt, forest);
    }

    #[test]
    fn out_of_range_child_is_rejected() {
        let values = grid_with_outlier();
        let forest = IsolationForest::fit(&spec(2, 1, 8), &values, 5).unwrap();
        let mut tensors = forest.to_tensors().unwrap();
        let count = forest.node_count() as u32;
        let left = Tensor::from_vec(vec![count; count as usize], count as usize, &Device::Cpu);
        tensors.insert("left".into(), left.unwrap());
        let error = IsolationForest::from_tensors(&spec(2, 1, 8), &tensors).unwrap_err();
        assert!(error.contains("out of range"), "{error}");
    }
}
