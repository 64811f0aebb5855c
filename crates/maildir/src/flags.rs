//! Message flags as Maildir file names carry them: the info suffix `:2,<letters>`.
//!
//! The letters are sorted by ASCII value: `D` draft, `F` flagged, `P` passed, `R` replied,
//! `S` seen, `T` trashed (IMAP `\Deleted`), and `a`..`z` for keywords 0..25 whose names are in
//! `dovecot-keywords`. Letters this module does not know are kept as found, so a rename made
//! to change one flag does not lose another program's flag.

/// Letters of the maildir info that map to IMAP system flags.
const SEEN: u8 = b'S';
const ANSWERED: u8 = b'R';
const FLAGGED: u8 = b'F';
const DELETED: u8 = b'T';
const DRAFT: u8 = b'D';

/// The flags of one message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct MessageFlags {
    /// `\Seen` (`S`).
    pub seen: bool,
    /// `\Answered` (`R`, replied).
    pub answered: bool,
    /// `\Flagged` (`F`).
    pub flagged: bool,
    /// `\Deleted` (`T`, trashed).
    pub deleted: bool,
    /// `\Draft` (`D`).
    pub draft: bool,
    /// Keywords: bit `i` is keyword index `i` (letter `'a' + i`) of `dovecot-keywords`.
    pub keywords: u32,
    /// Other letters, kept as found (e.g. `"P"` for passed), without duplicates.
    pub other: String,
}

impl MessageFlags {
    /// Flags from a file name's info part (what follows `:`, e.g. `"2,FS"`). `None`, or an
    /// info of another version than `2,`, means no flags.
    pub fn from_info(info: Option<&str>) -> MessageFlags {
        let mut flags = MessageFlags::default();
        let Some(letters) = info.and_then(|i| i.strip_prefix("2,")) else {
            return flags;
        };
        for c in letters.chars() {
            match u8::try_from(c) {
                Ok(SEEN) => flags.seen = true,
                Ok(ANSWERED) => flags.answered = true,
                Ok(FLAGGED) => flags.flagged = true,
                Ok(DELETED) => flags.deleted = true,
                Ok(DRAFT) => flags.draft = true,
                Ok(b @ b'a'..=b'z') => flags.keywords |= 1 << (b - b'a'),
                // A comma would read as the start of a field in Dovecot's parser; a slash
                // cannot be in a file name; control characters are not flags.
                _ if c == ',' || c == '/' || c.is_control() => {}
                _ => {
                    if !flags.other.contains(c) {
                        flags.other.push(c);
                    }
                }
            }
        }
        flags
    }

    /// Flags from a whole file name (`base:2,FS`).
    pub fn from_file_name(file_name: &str) -> MessageFlags {
        MessageFlags::from_info(file_name.split_once(':').map(|(_, info)| info))
    }

    /// The info part for a file name: `"2,"` followed by the letters in ASCII order.
    pub fn to_info(&self) -> String {
        format!("2,{}", self.letters())
    }

    /// Just the letters, in ASCII order (`"FS"`), as `to_info` writes them after `2,`.
    pub fn letters(&self) -> String {
        let mut letters: Vec<char> = self.other.chars().collect();
        for (on, letter) in [
            (self.draft, DRAFT),
            (self.flagged, FLAGGED),
            (self.answered, ANSWERED),
            (self.seen, SEEN),
            (self.deleted, DELETED),
        ] {
            if on {
                letters.push(char::from(letter));
            }
        }
        for i in 0..26u8 {
            if self.keywords & (1 << i) != 0 {
                letters.push(char::from(b'a' + i));
            }
        }
        letters.sort_unstable();
        letters.dedup();
        letters.into_iter().collect()
    }

    /// Whether keyword index `index` is set.
    pub fn has_keyword(&self, index: usize) -> bool {
        index < 26 && self.keywords & (1 << index) != 0
    }

    /// Sets or clears keyword index `index` (indexes from 26 on do not exist and are ignored).
    pub fn set_keyword(&mut self, index: usize, on: bool) {
        if index >= 26 {
            return;
        }
        if on {
            self.keywords |= 1 << index;
        } else {
            self.keywords &= !(1 << index);
        }
    }

    /// The keyword indexes that are set, ascending.
    pub fn keyword_indexes(&self) -> impl Iterator<Item = usize> + '_ {
        (0..26).filter(|&i| self.has_keyword(i))
    }
}

/// The base of a Maildir file name: everything before the info separator `:`. Dovecot matches
/// `dovecot-uidlist` records to files by it, since flag changes rename only the info part.
pub fn base_name(file_name: &str) -> &str {
    file_name
        .split_once(':')
        .map_or(file_name, |(base, _)| base)
}

/// `base` with `flags` as its info part.
pub fn file_name_with(base: &str, flags: &MessageFlags) -> String {
    format!("{base}:{}", flags.to_info())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_system_flags_keywords_and_unknown_letters() {
        let f = MessageFlags::from_info(Some("2,DFPRSTacz"));
        assert!(f.draft && f.flagged && f.answered && f.seen && f.deleted);
        assert_eq!(f.keywords, 1 | (1 << 2) | (1 << 25));
        assert_eq!(f.other, "P");
        assert_eq!(f.to_info(), "2,DFPRSTacz");
        assert_eq!(f.keyword_indexes().collect::<Vec<_>>(), [0, 2, 25]);
    }

    #[test]
    fn writes_letters_sorted_and_deduplicated() {
        let f = MessageFlags {
            seen: true,
            flagged: true,
            keywords: 0b10,
            other: "XP".into(),
            ..MessageFlags::default()
        };
        assert_eq!(f.to_info(), "2,FPSXb");
        let g = MessageFlags::from_info(Some("2,SSFXX"));
        assert_eq!(g.to_info(), "2,FSX");
    }

    #[test]
    fn no_info_or_other_versions_mean_no_flags() {
        assert_eq!(MessageFlags::from_info(None), MessageFlags::default());
        assert_eq!(
            MessageFlags::from_info(Some("1,foo")),
            MessageFlags::default()
        );
        assert_eq!(MessageFlags::from_info(Some("2,")).to_info(), "2,");
        assert_eq!(MessageFlags::from_info(Some("2,S,/\n")).to_info(), "2,S");
        let f = MessageFlags::from_file_name("1.M1.h,S=5:2,RS");
        assert!(f.seen && f.answered);
    }

    #[test]
    fn keyword_bits() {
        let mut f = MessageFlags::default();
        f.set_keyword(3, true);
        f.set_keyword(30, true);
        assert!(f.has_keyword(3) && !f.has_keyword(30));
        f.set_keyword(3, false);
        assert_eq!(f.keywords, 0);
    }

    #[test]
    fn base_names() {
        assert_eq!(base_name("1.M2.h,S=3:2,S"), "1.M2.h,S=3");
        assert_eq!(base_name("1.M2.h,S=3"), "1.M2.h,S=3");
        assert_eq!(
            file_name_with("1.M2.h", &MessageFlags::from_info(Some("2,S"))),
            "1.M2.h:2,S"
        );
    }
}
