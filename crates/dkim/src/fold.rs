//! Folding of the DKIM-Signature value at 78 columns with CRLF TAB.

/// RFC 5322 §2.1.1: lines SHOULD be no more than 78 characters (without CRLF).
const WIDTH: usize = 78;
const FOLD: &str = "\r\n\t";

/// Builds a header value that starts right after `Name:`.
pub(crate) struct Folder {
    out: String,
    col: usize,
}

impl Folder {
    /// A folder for a value following `name:` on the first line.
    pub(crate) fn new(name: &str) -> Self {
        Folder {
            out: String::new(),
            col: name.len() + 1,
        }
    }

    fn fold(&mut self) {
        self.out.push_str(FOLD);
        self.col = 1;
    }

    fn push(&mut self, s: &str) {
        self.out.push_str(s);
        self.col += s.len();
    }

    /// Starts a new tag: a space, or a fold if `unit` plus `reserve` more columns
    /// do not fit on this line.
    pub(crate) fn tag(&mut self, unit: &str, reserve: usize) {
        if self.col + 1 + unit.len() + reserve > WIDTH && self.col > 1 {
            self.fold();
        } else {
            self.push(" ");
        }
        self.push(unit);
    }

    /// Continues the current tag with `piece`, folding first if it does not fit.
    pub(crate) fn cont(&mut self, piece: &str) {
        if self.col + piece.len() > WIDTH && self.col > 1 {
            self.fold();
        }
        self.push(piece);
    }

    /// Continues the current tag with `text` (ASCII), filling lines to the width.
    pub(crate) fn fill(&mut self, text: &str) {
        let mut rest = text;
        while !rest.is_empty() {
            let room = WIDTH.saturating_sub(self.col);
            if room == 0 {
                self.fold();
                continue;
            }
            let (piece, tail) = rest.split_at_checked(room).unwrap_or((rest, ""));
            self.push(piece);
            rest = tail;
        }
    }

    /// The value so far.
    pub(crate) fn as_str(&self) -> &str {
        &self.out
    }

    pub(crate) fn into_string(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_stay_within_width() {
        let mut f = Folder::new("DKIM-Signature");
        for i in 0..20 {
            f.tag(&format!("t{i}=value{i};"), 0);
        }
        f.tag("h=", 0);
        f.cont("A:");
        for _ in 0..30 {
            f.cont("Some-Header:");
        }
        f.tag("b=", 8);
        f.fill(&"x".repeat(400));
        let full = format!("DKIM-Signature:{}", f.as_str());
        for line in full.split("\r\n") {
            assert!(line.len() <= 78, "{line:?}");
        }
        assert!(f.into_string().starts_with(" t0=value0; t1=value1;"));
    }
}
