//! The compiled script: commands and tests with every argument checked and every key
//! prepared for its comparator, so evaluation has nothing left to reject.

use crate::matching::Matcher;

#[derive(Debug, Clone)]
pub(crate) enum Command {
    /// `if` with its `elsif`s as further branches, then the `else` block.
    If {
        branches: Vec<(Test, Vec<Command>)>,
        otherwise: Option<Vec<Command>>,
    },
    Stop,
    Keep,
    Discard,
    FileInto {
        mailbox: String,
        /// RFC 5490 `:create`.
        create: bool,
        /// RFC 3894 `:copy`: the implicit keep stays.
        copy: bool,
    },
}

/// Which part of an address a test compares (RFC 5228 2.7.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AddressPart {
    All,
    LocalPart,
    Domain,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EnvelopePart {
    From,
    To,
}

#[derive(Debug, Clone)]
pub(crate) enum Test {
    True,
    False,
    Not(Box<Test>),
    AllOf(Vec<Test>),
    AnyOf(Vec<Test>),
    /// Names are lower-cased.
    Header {
        names: Vec<String>,
        matcher: Matcher,
    },
    Address {
        part: AddressPart,
        names: Vec<String>,
        matcher: Matcher,
    },
    Envelope {
        part: AddressPart,
        parts: Vec<EnvelopePart>,
        matcher: Matcher,
    },
    /// Names are lower-cased.
    Exists(Vec<String>),
    Size {
        over: bool,
        limit: u64,
    },
    MailboxExists(Vec<String>),
}
