//! RFC 6962 / RFC 9162 Merkle tree hashing, proof verification and proof generation.
//!
//! Pure functions: the tree itself lives elsewhere (tiles on disk, a test vector) and is reached
//! through [`NodeSource`], which hands out hashes of *perfect* subtrees only. Everything about the
//! ragged right edge of a tree is computed here, so a source never needs to know the tree size.
//!
//! Verification follows the decomposition used by transparency-dev/merkle and is checked against
//! its test vectors (`tests/merkle_vectors.rs`). One deliberate strictness: a consistency proof
//! from the empty tree (`size1 == 0`) is rejected, because it proves nothing.

use sha2::{Digest, Sha256};

/// A SHA-256 node or leaf hash.
pub type Hash = [u8; 32];

/// The root of the empty tree: SHA-256 of the empty string.
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// The leaf hash of an entry: SHA-256(0x00 || entry).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

/// The hash of an interior node: SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two strictly smaller than `n` (`n >= 2`).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The Merkle tree hash (MTH) of a list of leaf hashes, computed directly. Meant for tests and
/// small trees: it recurses over the whole list.
pub fn root_of(leaves: &[Hash]) -> Hash {
    match leaves {
        [] => EMPTY_ROOT,
        [one] => *one,
        _ => {
            let k = split_point(leaves.len() as u64) as usize;
            let (l, r) = leaves.split_at(k);
            node_hash(&root_of(l), &root_of(r))
        }
    }
}

/// Why a proof did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// The index that was asked about.
        index: u64,
        /// The tree size it was checked against.
        size: u64,
    },
    /// The two sizes of a consistency proof are not a valid pair.
    #[error("consistency proof sizes are invalid: size1 {size1}, size2 {size2} ({reason})")]
    InvalidSizes {
        /// The older tree size.
        size1: u64,
        /// The newer tree size.
        size2: u64,
        /// What is wrong with them.
        reason: &'static str,
    },
    /// The proof has the wrong number of hashes for the sizes given.
    #[error("proof has {got} hashes, expected {expected}")]
    WrongProofLength {
        /// How many the sizes call for.
        expected: usize,
        /// How many were given.
        got: usize,
    },
    /// A hash in the input is not 32 bytes long (only from the `_slices` variants).
    #[error("{what} is {len} bytes, expected a 32-byte SHA-256 hash")]
    BadHashLength {
        /// Which input.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// The proof is well formed but leads to a different root.
    #[error("{which} computed from the proof does not match the given root")]
    RootMismatch {
        /// `"root"`, `"root1"` or `"root2"`.
        which: &'static str,
    },
}

/// Split an inclusion proof for `index` in a tree of `size` into the part inside the perfect
/// subtree that `index` and `size - 1` share (`inner`) and the right-border part (`border`).
fn decompose(index: u64, size: u64) -> (usize, usize) {
    let inner = (64 - (index ^ (size - 1)).leading_zeros()) as usize;
    let border = (index >> inner).count_ones() as usize;
    (inner, border)
}

fn chain_inner(seed: Hash, proof: &[Hash], index: u64) -> Hash {
    proof.iter().enumerate().fold(seed, |acc, (i, h)| {
        if (index >> i) & 1 == 0 {
            node_hash(&acc, h)
        } else {
            node_hash(h, &acc)
        }
    })
}

fn chain_inner_right(seed: Hash, proof: &[Hash], index: u64) -> Hash {
    proof.iter().enumerate().fold(seed, |acc, (i, h)| {
        if (index >> i) & 1 == 1 {
            node_hash(h, &acc)
        } else {
            acc
        }
    })
}

fn chain_border_right(seed: Hash, proof: &[Hash]) -> Hash {
    proof.iter().fold(seed, |acc, h| node_hash(h, &acc))
}

/// The root that an inclusion proof leads to.
fn root_from_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
) -> Result<Hash, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (inner, border) = decompose(index, size);
    if proof.len() != inner + border {
        return Err(ProofError::WrongProofLength {
            expected: inner + border,
            got: proof.len(),
        });
    }
    let (inner_part, border_part) = proof.split_at(inner);
    let h = chain_inner(*leaf, inner_part, index);
    Ok(chain_border_right(h, border_part))
}

/// Verify that `leaf` is the leaf hash at `index` in the tree of `size` with root `root`.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    let got = root_from_inclusion(index, size, leaf, proof)?;
    if &got != root {
        return Err(ProofError::RootMismatch { which: "root" });
    }
    Ok(())
}

/// Verify that the tree of `size2` with `root2` extends the tree of `size1` with `root1`.
///
/// `size1 == size2 > 0` needs an empty proof and equal roots; `size1 == 0` is always rejected
/// (every tree extends the empty tree, so such a "proof" shows nothing).
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    root1: &Hash,
    root2: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    let invalid = |reason| ProofError::InvalidSizes {
        size1,
        size2,
        reason,
    };
    if size1 == 0 {
        return Err(invalid(
            "a consistency proof from the empty tree proves nothing",
        ));
    }
    if size2 < size1 {
        return Err(invalid("size2 is smaller than size1"));
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(ProofError::WrongProofLength {
                expected: 0,
                got: proof.len(),
            });
        }
        if root1 != root2 {
            return Err(ProofError::RootMismatch { which: "root2" });
        }
        return Ok(());
    }
    let (inner, border) = decompose(size1 - 1, size2);
    let shift = size1.trailing_zeros() as usize;
    // size1 - 1 and size2 - 1 differ above bit `shift` (size1 < size2), so this never saturates.
    let inner = inner.saturating_sub(shift);
    // When size1 is a power of two its root is a node of the bigger tree and is not sent.
    let (seed, rest) = if size1 == 1u64 << shift {
        (*root1, proof)
    } else {
        match proof.split_first() {
            Some((first, rest)) => (*first, rest),
            None => {
                return Err(ProofError::WrongProofLength {
                    expected: 1 + inner + border,
                    got: 0,
                })
            }
        }
    };
    if rest.len() != inner + border {
        return Err(ProofError::WrongProofLength {
            expected: proof.len() - rest.len() + inner + border,
            got: proof.len(),
        });
    }
    let (inner_part, border_part) = rest.split_at(inner);
    let mask = (size1 - 1) >> shift;
    let h1 = chain_border_right(chain_inner_right(seed, inner_part, mask), border_part);
    if &h1 != root1 {
        return Err(ProofError::RootMismatch { which: "root1" });
    }
    let h2 = chain_border_right(chain_inner(seed, inner_part, mask), border_part);
    if &h2 != root2 {
        return Err(ProofError::RootMismatch { which: "root2" });
    }
    Ok(())
}

fn to_hash(what: &'static str, bytes: &[u8]) -> Result<Hash, ProofError> {
    Hash::try_from(bytes).map_err(|_| ProofError::BadHashLength {
        what,
        len: bytes.len(),
    })
}

fn to_hashes(proof: &[&[u8]]) -> Result<Vec<Hash>, ProofError> {
    proof.iter().map(|p| to_hash("proof hash", p)).collect()
}

/// [`verify_inclusion`] for hashes that arrive as byte strings of unchecked length (a bundle, a
/// JSON proof): any hash that is not 32 bytes is an error.
pub fn verify_inclusion_slices(
    index: u64,
    size: u64,
    leaf: &[u8],
    proof: &[&[u8]],
    root: &[u8],
) -> Result<(), ProofError> {
    let leaf = to_hash("leaf hash", leaf)?;
    let root = to_hash("root", root)?;
    verify_inclusion(index, size, &leaf, &to_hashes(proof)?, &root)
}

/// [`verify_consistency`] for byte strings of unchecked length. For equal sizes the roots are
/// compared as given (as transparency-dev/merkle does), otherwise every hash must be 32 bytes.
pub fn verify_consistency_slices(
    size1: u64,
    size2: u64,
    root1: &[u8],
    root2: &[u8],
    proof: &[&[u8]],
) -> Result<(), ProofError> {
    if size1 != 0 && size1 == size2 {
        if !proof.is_empty() {
            return Err(ProofError::WrongProofLength {
                expected: 0,
                got: proof.len(),
            });
        }
        if root1 != root2 {
            return Err(ProofError::RootMismatch { which: "root2" });
        }
        return Ok(());
    }
    let r1 = to_hash("root1", root1)?;
    let r2 = to_hash("root2", root2)?;
    verify_consistency(size1, size2, &r1, &r2, &to_hashes(proof)?)
}

/// A store of perfect subtree hashes. Node `(level, index)` is the root of the perfect subtree
/// over leaves `[index << level, (index + 1) << level)`; level 0 nodes are leaf hashes.
pub trait NodeSource {
    /// Why a node could not be produced.
    type Error;
    /// The hash of the perfect node `(level, index)`.
    fn node(&mut self, level: u8, index: u64) -> Result<Hash, Self::Error>;
}

/// Why a proof could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum ProofGenError<E> {
    /// The sizes or index asked for do not describe a proof.
    #[error("cannot build a proof for {what}")]
    InvalidRequest {
        /// What was asked, e.g. `"index 7 in tree of size 5"`.
        what: String,
    },
    /// The node source failed.
    #[error("reading a tree node: {0}")]
    Source(E),
}

/// The hash of the subtree over leaves `[lo, hi)` where `lo` is a multiple of the largest power of
/// two not above `hi - lo` (true of every subtree of the RFC 6962 recursion). Costs
/// O(log(hi - lo)) node reads.
fn range_hash<S: NodeSource>(src: &mut S, lo: u64, hi: u64) -> Result<Hash, S::Error> {
    // Perfect nodes from left to right, then fold from the right.
    let mut nodes: Vec<Hash> = Vec::new();
    let mut start = lo;
    let mut rest = hi - lo;
    while rest > 0 {
        let level = 63 - rest.leading_zeros();
        nodes.push(src.node(level as u8, start >> level)?);
        start += 1u64 << level;
        rest -= 1u64 << level;
    }
    let mut iter = nodes.into_iter().rev();
    let Some(mut acc) = iter.next() else {
        return Ok(EMPTY_ROOT);
    };
    for left in iter {
        acc = node_hash(&left, &acc);
    }
    Ok(acc)
}

/// The root of the tree of `size` leaves.
pub fn tree_root<S: NodeSource>(src: &mut S, size: u64) -> Result<Hash, ProofGenError<S::Error>> {
    range_hash(src, 0, size).map_err(ProofGenError::Source)
}

/// The RFC 6962 audit path for leaf `index` in the tree of `size`, leaf to root.
pub fn inclusion_proof<S: NodeSource>(
    src: &mut S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofGenError<S::Error>> {
    if index >= size {
        return Err(ProofGenError::InvalidRequest {
            what: format!("index {index} in tree of size {size}"),
        });
    }
    let mut proof = Vec::new();
    subproof_path(src, index, 0, size, &mut proof).map_err(ProofGenError::Source)?;
    proof.reverse();
    Ok(proof)
}

/// Push the siblings on the way from the subtree `[lo, hi)` down to leaf `m`, top first.
fn subproof_path<S: NodeSource>(
    src: &mut S,
    m: u64,
    mut lo: u64,
    mut hi: u64,
    out: &mut Vec<Hash>,
) -> Result<(), S::Error> {
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if m < lo + k {
            out.push(range_hash(src, lo + k, hi)?);
            hi = lo + k;
        } else {
            out.push(range_hash(src, lo, lo + k)?);
            lo += k;
        }
    }
    Ok(())
}

/// The RFC 6962 consistency proof between the trees of `size1` and `size2` leaves
/// (`0 < size1 <= size2`; equal sizes give the empty proof).
pub fn consistency_proof<S: NodeSource>(
    src: &mut S,
    size1: u64,
    size2: u64,
) -> Result<Vec<Hash>, ProofGenError<S::Error>> {
    if size1 == 0 || size1 > size2 {
        return Err(ProofGenError::InvalidRequest {
            what: format!("consistency from size {size1} to size {size2}"),
        });
    }
    // SUBPROOF(m, D[lo:hi], b) of RFC 6962 §2.1.2, iteratively: collect top-down, then reverse.
    let mut out = Vec::new();
    let (mut lo, mut hi, mut whole) = (0u64, size2, true);
    let m = size1;
    loop {
        let n = hi - lo;
        if m - lo == n {
            if !whole {
                out.push(range_hash(src, lo, hi).map_err(ProofGenError::Source)?);
            }
            break;
        }
        let k = split_point(n);
        if m - lo <= k {
            out.push(range_hash(src, lo + k, hi).map_err(ProofGenError::Source)?);
            hi = lo + k;
        } else {
            out.push(range_hash(src, lo, lo + k).map_err(ProofGenError::Source)?);
            lo += k;
            whole = false;
        }
    }
    out.reverse();
    Ok(out)
}

/// The perfect nodes `(level, index)` along the right edge of a tree of `size`, largest first:
/// one per set bit of `size`. Their hashes, folded from the right, give the root.
pub fn right_edge(size: u64) -> Vec<(u8, u64)> {
    let mut out = Vec::new();
    let mut start = 0u64;
    for level in (0..64u32).rev() {
        if (size >> level) & 1 == 1 {
            out.push((level as u8, start >> level));
            start += 1u64 << level;
        }
    }
    out
}

/// Why a serialised [`CompactRange`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompactRangeError {
    /// The byte string has the wrong length for the size it states.
    #[error("compact range of size {size} needs {expected} bytes, got {got}")]
    BadLength {
        /// The size in the header (0 if the header itself is short).
        size: u64,
        /// The length expected.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// The node count does not match the size.
    #[error("compact range of size {size} needs {expected} nodes, got {got}")]
    WrongNodeCount {
        /// The tree size.
        size: u64,
        /// popcount(size).
        expected: usize,
        /// How many were given.
        got: usize,
    },
    /// The tree is full (2^64 - 1 leaves).
    #[error("the tree is full")]
    Full,
}

/// The right edge of a tree, enough to append leaves and compute the root in O(log n) memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactRange {
    size: u64,
    /// Hashes of the nodes of [`right_edge`]`(size)`, largest (leftmost) first.
    nodes: Vec<Hash>,
}

impl CompactRange {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuild from the hashes of the [`right_edge`] nodes of a tree of `size`, largest first.
    pub fn from_nodes(size: u64, nodes: Vec<Hash>) -> Result<Self, CompactRangeError> {
        let expected = size.count_ones() as usize;
        if nodes.len() != expected {
            return Err(CompactRangeError::WrongNodeCount {
                size,
                expected,
                got: nodes.len(),
            });
        }
        Ok(Self { size, nodes })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The right-edge node hashes, largest first (see [`right_edge`]).
    pub fn nodes(&self) -> &[Hash] {
        &self.nodes
    }

    /// Append a leaf hash. Returns every perfect node this leaf completes, starting with the leaf
    /// itself at level 0, then upwards: `(level, index, hash)`. A full tree (2^64 - 1 leaves)
    /// is left unchanged and an empty list returned; [`CompactRange::try_push`] reports it.
    pub fn push(&mut self, leaf: Hash) -> Vec<(u8, u64, Hash)> {
        self.try_push(leaf).unwrap_or_default()
    }

    /// [`CompactRange::push`], with an error for a full tree.
    pub fn try_push(&mut self, leaf: Hash) -> Result<Vec<(u8, u64, Hash)>, CompactRangeError> {
        if self.size == u64::MAX {
            return Err(CompactRangeError::Full);
        }
        let index = self.size;
        let mut done = vec![(0u8, index, leaf)];
        let mut cur = leaf;
        let mut level = 0u8;
        // Each trailing one bit of the old size is a left sibling waiting for this leaf.
        while (index >> level) & 1 == 1 {
            let Some(left) = self.nodes.pop() else { break };
            cur = node_hash(&left, &cur);
            level += 1;
            done.push((level, index >> level, cur));
        }
        self.nodes.push(cur);
        self.size += 1;
        Ok(done)
    }

    /// The root of the tree so far.
    pub fn root(&self) -> Hash {
        let mut iter = self.nodes.iter().rev();
        let Some(mut acc) = iter.next().copied() else {
            return EMPTY_ROOT;
        };
        for left in iter {
            acc = node_hash(left, &acc);
        }
        acc
    }

    /// `size` as 8 big-endian bytes followed by the node hashes.
    pub fn serialise(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 32 * self.nodes.len());
        out.extend_from_slice(&self.size.to_be_bytes());
        for n in &self.nodes {
            out.extend_from_slice(n);
        }
        out
    }

    /// The inverse of [`CompactRange::serialise`].
    pub fn deserialise(bytes: &[u8]) -> Result<Self, CompactRangeError> {
        let Some((head, rest)) = bytes.split_first_chunk::<8>() else {
            return Err(CompactRangeError::BadLength {
                size: 0,
                expected: 8,
                got: bytes.len(),
            });
        };
        let size = u64::from_be_bytes(*head);
        let expected = 8 + 32 * size.count_ones() as usize;
        if bytes.len() != expected {
            return Err(CompactRangeError::BadLength {
                size,
                expected,
                got: bytes.len(),
            });
        }
        let nodes = rest
            .chunks_exact(32)
            .filter_map(|c| Hash::try_from(c).ok())
            .collect();
        Self::from_nodes(size, nodes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// All leaves in memory; perfect nodes computed on demand.
    struct Mem(Vec<Hash>);
    impl NodeSource for Mem {
        type Error = std::convert::Infallible;
        fn node(&mut self, level: u8, index: u64) -> Result<Hash, Self::Error> {
            let lo = (index << level) as usize;
            let hi = ((index + 1) << level) as usize;
            Ok(root_of(&self.0[lo..hi]))
        }
    }

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(EMPTY_ROOT, <[u8; 32]>::from(Sha256::digest(b"")));
    }

    #[test]
    fn compact_range_matches_reference_root_and_emits_every_perfect_node() {
        let ls = leaves(300);
        let mut cr = CompactRange::new();
        let mut mem = Mem(ls.clone());
        for (i, l) in ls.iter().enumerate() {
            let done = cr.push(*l);
            for (level, index, h) in done {
                assert_eq!(h, mem.node(level, index).unwrap());
                assert_eq!((index + 1) << level, i as u64 + 1);
            }
            assert_eq!(cr.root(), root_of(&ls[..=i]));
            let back = CompactRange::deserialise(&cr.serialise()).unwrap();
            assert_eq!(back, cr);
            let edge: Vec<Hash> = right_edge(cr.size())
                .into_iter()
                .map(|(l, x)| mem.node(l, x).unwrap())
                .collect();
            assert_eq!(edge, cr.nodes());
        }
        assert!(CompactRange::deserialise(&[0u8; 7]).is_err());
        assert!(CompactRange::deserialise(&3u64.to_be_bytes()).is_err());
    }

    #[test]
    fn generated_proofs_verify_for_every_small_tree() {
        let all = leaves(300);
        for size in 1..=300u64 {
            let mut mem = Mem(all[..size as usize].to_vec());
            let root = tree_root(&mut mem, size).unwrap();
            assert_eq!(root, root_of(&all[..size as usize]));
            for index in 0..size {
                let p = inclusion_proof(&mut mem, index, size).unwrap();
                verify_inclusion(index, size, &all[index as usize], &p, &root).unwrap();
                if !p.is_empty() {
                    let mut bad = p.clone();
                    bad[0][0] ^= 1;
                    assert!(
                        verify_inclusion(index, size, &all[index as usize], &bad, &root).is_err()
                    );
                }
            }
            for size1 in 1..=size {
                let p = consistency_proof(&mut mem, size1, size).unwrap();
                let root1 = root_of(&all[..size1 as usize]);
                verify_consistency(size1, size, &root1, &root, &p).unwrap();
                if size1 < size {
                    let mut wrong = root1;
                    wrong[5] ^= 0x80;
                    assert!(verify_consistency(size1, size, &wrong, &root, &p).is_err());
                }
            }
        }
    }

    /// A source that derives perfect-node hashes arithmetically from a seed, so trees of
    /// billions of leaves can be proven without storing them.
    struct Synthetic;
    impl NodeSource for Synthetic {
        type Error = std::convert::Infallible;
        fn node(&mut self, level: u8, index: u64) -> Result<Hash, Self::Error> {
            if level == 0 {
                return Ok(leaf_hash(&index.to_be_bytes()));
            }
            let l = self.node(level - 1, index * 2)?;
            let r = self.node(level - 1, index * 2 + 1)?;
            Ok(node_hash(&l, &r))
        }
    }

    #[test]
    fn generated_proofs_verify_for_random_larger_trees() {
        // xorshift64*, fixed seed: deterministic.
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            s.wrapping_mul(0x2545_F491_4F6C_DD1D)
        };
        for _ in 0..40 {
            let size = 301 + next() % 20_000;
            let index = next() % size;
            let size1 = 1 + next() % size;
            let mut src = Synthetic;
            let root = tree_root(&mut src, size).unwrap();
            let leaf = leaf_hash(&index.to_be_bytes());
            let p = inclusion_proof(&mut src, index, size).unwrap();
            verify_inclusion(index, size, &leaf, &p, &root).unwrap();
            let root1 = tree_root(&mut src, size1).unwrap();
            let c = consistency_proof(&mut src, size1, size).unwrap();
            verify_consistency(size1, size, &root1, &root, &c).unwrap();
        }
    }

    #[test]
    fn generation_refuses_impossible_requests() {
        let mut mem = Mem(leaves(4));
        assert!(inclusion_proof(&mut mem, 4, 4).is_err());
        assert!(inclusion_proof(&mut mem, 0, 0).is_err());
        assert!(consistency_proof(&mut mem, 0, 4).is_err());
        assert!(consistency_proof(&mut mem, 3, 2).is_err());
        assert_eq!(
            consistency_proof(&mut mem, 4, 4).unwrap(),
            Vec::<Hash>::new()
        );
    }
}
