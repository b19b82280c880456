//! Row keying: which row a record's index belongs to, the row order, and how an index splits
//! into the spec's fields.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::spec::{IndexField, Length};

/// A fast hasher for index keys (FxHash's multiply-rotate; keys are not attacker-chosen
/// collisions worth defending against here).
#[derive(Default)]
pub(super) struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().unwrap_or_default()));
        }
        for &byte in chunks.remainder() {
            self.add(u64::from(byte));
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl FxHasher {
    pub(super) fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// Two indexes (u32 LE sub-ids) are the same; one compare for the usual one-sub-id index.
#[inline(always)]
pub(super) fn same_index(a: &[u8], b: &[u8]) -> bool {
    match (<&[u8; 4]>::try_from(a), <&[u8; 4]>::try_from(b)) {
        (Ok(a), Ok(b)) => u32::from_ne_bytes(*a) == u32::from_ne_bytes(*b),
        _ => a == b,
    }
}

/// The rows found so far, (buffer, index bytes), and how to find one by its index.
///
/// While the rows of the current buffer arrive in increasing index order (walks of columns
/// that share their rows), a new index is simply appended after comparing it with the last
/// one, and a known one is found by binary search: no hashing. The first index that would go
/// between two others switches the buffer to a hash map.
pub(super) struct Rows<'a> {
    pub(super) keys: Vec<(u32, &'a [u8])>,
    /// Where the current buffer's rows start.
    pub(super) start: usize,
    pub(super) buffer_no: u32,
    /// Every buffer so far kept its rows in increasing index order.
    pub(super) sorted: bool,
    /// The current buffer's rows are hashed in `row_of` (they are not in order).
    pub(super) hashed: bool,
    pub(super) row_of: HashMap<&'a [u8], u32, BuildHasherDefault<FxHasher>>,
}

impl<'a> Rows<'a> {
    pub(super) fn with_capacity(capacity: usize) -> Self {
        Rows {
            keys: Vec::with_capacity(capacity),
            start: 0,
            buffer_no: 0,
            sorted: true,
            hashed: false,
            row_of: HashMap::default(),
        }
    }

    pub(super) fn start_buffer(&mut self, buffer_no: u32) {
        self.start = self.keys.len();
        self.buffer_no = buffer_no;
        self.hashed = false;
        self.row_of.clear();
    }

    /// The row of `index` in the current buffer, added when new.
    #[inline]
    pub(super) fn find_or_add(&mut self, index: &'a [u8]) -> usize {
        if self.hashed {
            return self.find_or_add_hashed(index);
        }
        let end = self.keys.len();
        match self.keys[self.start..].last() {
            Some(&(_, last)) if index_cmp(last, index).is_ge() => {}
            _ => {
                self.keys.push((self.buffer_no, index));
                return end;
            }
        }
        self.search_or_hash(index)
    }

    /// The slower half of [`Rows::find_or_add`]: binary search, or a switch to hashing when
    /// `index` is new and not last.
    #[inline(never)]
    pub(super) fn search_or_hash(&mut self, index: &'a [u8]) -> usize {
        match self.keys[self.start..].binary_search_by(|&(_, probe)| index_cmp(probe, index)) {
            Ok(found) => self.start + found,
            Err(_) => {
                self.hashed = true;
                self.sorted = false;
                for (row, &(_, known)) in self.keys.iter().enumerate().skip(self.start) {
                    self.row_of.insert(known, row as u32);
                }
                self.find_or_add_hashed(index)
            }
        }
    }

    pub(super) fn find_or_add_hashed(&mut self, index: &'a [u8]) -> usize {
        let keys = &mut self.keys;
        let buffer_no = self.buffer_no;
        *self.row_of.entry(index).or_insert_with(|| {
            keys.push((buffer_no, index));
            (keys.len() - 1) as u32
        }) as usize
    }
}

/// The order that sorts rows by buffer, then index (numerically); `None` when they already
/// are, as they usually are.
pub(super) fn row_order(rows: &[(u32, &[u8])]) -> Option<Vec<usize>> {
    let key_cmp = |a: &(u32, &[u8]), b: &(u32, &[u8])| a.0.cmp(&b.0).then_with(|| index_cmp(a.1, b.1));
    if rows.windows(2).all(|w| key_cmp(&w[0], &w[1]).is_le()) {
        return None;
    }
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by(|&a, &b| key_cmp(&rows[a], &rows[b]));
    Some(order)
}

/// Compares two indexes (u32 LE sub-ids) numerically.
#[inline]
pub(super) fn index_cmp(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    if let (Ok(a), Ok(b)) = (<&[u8; 4]>::try_from(a), <&[u8; 4]>::try_from(b)) {
        return u32::from_le_bytes(*a).cmp(&u32::from_le_bytes(*b));
    }
    for (x, y) in a.chunks_exact(4).zip(b.chunks_exact(4)) {
        if x != y {
            return le_u32(x).cmp(&le_u32(y));
        }
    }
    a.len().cmp(&b.len())
}

pub(super) fn le_u32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// Where each index field lies in an index (byte ranges), for up to [`MAX_INDEX_FIELDS`].
#[derive(Debug, Clone, Copy)]
pub(super) struct Split {
    ranges: [(u32, u32); MAX_INDEX_FIELDS],
}

/// More index fields than any MIB table uses; a longer spec makes every index null.
pub(super) const MAX_INDEX_FIELDS: usize = 16;

impl Split {
    pub(super) fn part<'a>(&self, index: &'a [u8], position: usize) -> &'a [u8] {
        let (start, end) = self.ranges[position];
        &index[start as usize..end as usize]
    }
}

/// Splits an index (u32 LE sub-ids) into the spec's fields; `None` when it does not fit.
pub(super) fn split_index(fields: &[(String, IndexField)], index: &[u8]) -> Option<Split> {
    if fields.len() > MAX_INDEX_FIELDS {
        return None;
    }
    let mut split = Split { ranges: [(0, 0); MAX_INDEX_FIELDS] };
    let mut at = 0usize;
    for (position, (_, field)) in fields.iter().enumerate() {
        let last = position + 1 == fields.len();
        let length = match field {
            IndexField::Integer => Length::Fixed(1),
            IndexField::Octets(length, _) | IndexField::ObjectId(length) => *length,
        };
        let take = match length {
            Length::Fixed(n) => n,
            Length::Prefixed => {
                let count = le_u32(index.get(at..at + 4)?) as usize;
                at += 4;
                count
            }
            Length::Implied if last => (index.len() - at) / 4,
            Length::Implied => return None,
        };
        let end = at.checked_add(take.checked_mul(4)?)?;
        if end > index.len() {
            return None;
        }
        split.ranges[position] = (at as u32, end as u32);
        at = end;
    }
    (at == index.len()).then_some(split)
}
