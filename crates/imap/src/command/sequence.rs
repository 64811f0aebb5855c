//! Sequence sets (`1:3,5,7:*`, and the SEARCHRES marker `$`): parsing, membership, bounded
//! iteration and the compact form used in responses.

use std::fmt;

use super::reader::{Reader, Result, bad};

/// A sequence set of message sequence numbers or UIDs. The SEARCHRES marker `$` (RFC 5182) is
/// represented by an empty list ([`is_saved`](Self::is_saved)): a parsed set is never empty
/// otherwise. `$` is accepted only as the whole set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SequenceSet(pub Vec<SeqRange>);

/// One element of a sequence set; a single number has `start == end`. Either order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqRange {
    /// One end of the range.
    pub start: SeqNum,
    /// The other end of the range.
    pub end: SeqNum,
}

/// A number in a sequence set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqNum {
    /// A non-zero number.
    Value(u32),
    /// `*`: the largest number in use.
    Star,
}

impl SeqNum {
    fn resolve(self, largest: u32) -> u32 {
        match self {
            SeqNum::Value(n) => n,
            SeqNum::Star => largest,
        }
    }
}

impl SequenceSet {
    /// The SEARCHRES marker `$`.
    pub fn saved() -> Self {
        SequenceSet(Vec::new())
    }

    /// A set of one number.
    pub fn single(n: u32) -> Self {
        SequenceSet(vec![SeqRange {
            start: SeqNum::Value(n),
            end: SeqNum::Value(n),
        }])
    }

    /// Whether this is `$`, to be replaced by the saved search result.
    pub fn is_saved(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the set contains `n`, with `*` standing for `largest`.
    pub fn contains(&self, n: u32, largest: u32) -> bool {
        self.0.iter().any(|range| {
            let a = range.start.resolve(largest);
            let b = range.end.resolve(largest);
            a.min(b) <= n && n <= a.max(b)
        })
    }

    /// The set as ascending, disjoint, non-adjacent inclusive ranges within `1..=largest`.
    /// Work is proportional to the number of ranges, not to their size.
    pub fn ranges(&self, largest: u32) -> Vec<(u32, u32)> {
        if largest == 0 {
            return Vec::new();
        }
        let mut ranges: Vec<(u32, u32)> = self
            .0
            .iter()
            .filter_map(|range| {
                let a = range.start.resolve(largest);
                let b = range.end.resolve(largest);
                let low = a.min(b).max(1);
                let high = a.max(b).min(largest);
                (low <= high).then_some((low, high))
            })
            .collect();
        ranges.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
        for (low, high) in ranges {
            match merged.last_mut() {
                Some(last) if low <= last.1.saturating_add(1) => last.1 = last.1.max(high),
                _ => merged.push((low, high)),
            }
        }
        merged
    }

    /// The numbers in the set, ascending and without duplicates, `*` standing for `largest`
    /// and numbers over `largest` left out.
    pub fn iter(&self, largest: u32) -> impl Iterator<Item = u32> + use<> {
        self.ranges(largest)
            .into_iter()
            .flat_map(|(low, high)| low..=high)
    }

    /// The compact form of ascending numbers, for responses (COPYUID, ESEARCH ALL, VANISHED):
    /// `[1, 2, 3, 5]` gives `"1:3,5"`. Runs are found in the order given; empty input gives "".
    pub fn from_values(sorted_values: &[u32]) -> String {
        let mut out = String::new();
        let mut values = sorted_values.iter().copied().peekable();
        while let Some(start) = values.next() {
            let mut end = start;
            while let Some(&next) = values.peek() {
                if next == end || Some(next) == end.checked_add(1) {
                    end = next;
                    values.next();
                } else {
                    break;
                }
            }
            if !out.is_empty() {
                out.push(',');
            }
            if start == end {
                out.push_str(&start.to_string());
            } else {
                out.push_str(&format!("{start}:{end}"));
            }
        }
        out
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeqNum::Value(n) => write!(f, "{n}"),
            SeqNum::Star => f.write_str("*"),
        }
    }
}

impl fmt::Display for SequenceSet {
    /// The set as sent (`$` for the marker).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_saved() {
            return f.write_str("$");
        }
        for (i, range) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if range.start == range.end {
                write!(f, "{}", range.start)?;
            } else {
                write!(f, "{}:{}", range.start, range.end)?;
            }
        }
        Ok(())
    }
}

fn seq_number(r: &mut Reader<'_>) -> Result<SeqNum> {
    if r.eat(b'*') {
        Ok(SeqNum::Star)
    } else {
        Ok(SeqNum::Value(r.nz_number()?))
    }
}

/// sequence-set, or `$`.
pub(crate) fn sequence_set(r: &mut Reader<'_>) -> Result<SequenceSet> {
    if r.eat(b'$') {
        return Ok(SequenceSet::saved());
    }
    let mut ranges = Vec::new();
    loop {
        let start = seq_number(r)?;
        let end = if r.eat(b':') { seq_number(r)? } else { start };
        ranges.push(SeqRange { start, end });
        if !r.eat(b',') {
            break;
        }
    }
    if r.peek().is_some_and(super::reader::is_atom_char) {
        return bad("invalid sequence set");
    }
    Ok(SequenceSet(ranges))
}

/// A sequence set where `$` and `*` make no sense (QRESYNC known UIDs and sequences).
pub(crate) fn number_set(r: &mut Reader<'_>) -> Result<SequenceSet> {
    let set = sequence_set(r)?;
    let starred = set
        .0
        .iter()
        .any(|range| range.start == SeqNum::Star || range.end == SeqNum::Star);
    if set.is_saved() || starred {
        return bad("`*` and `$` are not allowed here");
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> SequenceSet {
        sequence_set(&mut Reader::new(text.as_bytes())).unwrap()
    }

    #[test]
    fn star_is_the_largest_and_ranges_go_either_way() {
        let set = parse("5:*");
        assert!(set.contains(3, 3));
        assert!(!set.contains(2, 3));
        assert_eq!(set.iter(3).collect::<Vec<_>>(), vec![3]);
        assert_eq!(parse("4:2").iter(10).collect::<Vec<_>>(), vec![2, 3, 4]);
        assert_eq!(parse("*").iter(0).count(), 0);
    }

    #[test]
    fn iteration_merges_and_skips_values_past_the_largest() {
        let set = parse("7,1:3,2:4,9,100");
        assert_eq!(set.iter(9).collect::<Vec<_>>(), vec![1, 2, 3, 4, 7, 9]);
        assert_eq!(set.ranges(9), vec![(1, 4), (7, 7), (9, 9)]);
    }

    #[test]
    fn huge_ranges_cost_nothing_with_a_small_mailbox() {
        let set = parse("1:4294967295,4294967295:1,1:*");
        assert_eq!(set.iter(5).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn compact_form() {
        assert_eq!(SequenceSet::from_values(&[1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
        assert_eq!(SequenceSet::from_values(&[4]), "4");
        assert_eq!(SequenceSet::from_values(&[1, 1, 2]), "1:2");
        assert_eq!(SequenceSet::from_values(&[]), "");
        assert_eq!(
            SequenceSet::from_values(&[u32::MAX - 1, u32::MAX]),
            "4294967294:4294967295"
        );
    }

    #[test]
    fn saved_marker_and_display() {
        assert!(parse("$").is_saved());
        assert_eq!(parse("1:3,*,5:*").to_string(), "1:3,*,5:*");
        assert_eq!(SequenceSet::saved().to_string(), "$");
    }

    #[test]
    fn zero_and_overflow_are_rejected() {
        for text in ["0", "1:0", "4294967296", "1,", ":", "1:2x"] {
            assert!(
                sequence_set(&mut Reader::new(text.as_bytes())).is_err(),
                "{text}"
            );
        }
    }
}
