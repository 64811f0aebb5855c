//! Runs a compiled script against a [`Message`]: tests read the message, actions build the
//! [`Outcome`] with RFC 5228's implicit keep (2.10.2) and duplicate suppression (2.10.3).

use std::cell::OnceCell;

use crate::address::{self, Address};
use crate::ast::{AddressPart, Command, EnvelopePart, Test};
use crate::error::RuntimeError;
use crate::matching::{Matcher, Work};
use crate::message::Message;
use crate::rfc2047;

/// A mailbox to store into. `fileinto "INBOX"` (any case, as IMAP has it) is the same
/// mailbox as `keep`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mailbox {
    Inbox,
    /// The name exactly as the script wrote it (UTF-8; hierarchy separators and validity are
    /// the store's business).
    Folder(String),
}

impl Mailbox {
    fn named(name: &str) -> Mailbox {
        if name.eq_ignore_ascii_case("INBOX") {
            Mailbox::Inbox
        } else {
            Mailbox::Folder(name.to_string())
        }
    }
}

/// Store the message in `mailbox`; `create` asks for the mailbox to be made when missing
/// (`fileinto :create`, RFC 5490). Without it a missing mailbox is a failed delivery that
/// Dovecot answers by keeping the message in INBOX instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub mailbox: Mailbox,
    pub create: bool,
}

/// An action the script performed, after duplicates were merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `keep` (into INBOX) or `fileinto`.
    Store(Delivery),
    Discard,
}

/// What to do with the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The explicit actions in script order, each store target once.
    pub actions: Vec<Action>,
    /// No keep, fileinto (without `:copy`) or discard ran, so the message goes to INBOX.
    pub implicit_keep: bool,
    /// Set when evaluation failed; `actions` is then empty and `implicit_keep` true.
    pub error: Option<RuntimeError>,
}

impl Outcome {
    /// Where to store the message: the explicit stores, then INBOX for the implicit keep
    /// unless already there. Empty means the message was discarded.
    pub fn deliveries(&self) -> Vec<Delivery> {
        let mut out: Vec<Delivery> = self
            .actions
            .iter()
            .filter_map(|action| match action {
                Action::Store(delivery) => Some(delivery.clone()),
                Action::Discard => None,
            })
            .collect();
        if self.implicit_keep && !out.iter().any(|d| d.mailbox == Mailbox::Inbox) {
            out.push(Delivery {
                mailbox: Mailbox::Inbox,
                create: false,
            });
        }
        out
    }

    /// The outcome of a script that failed or could not run: INBOX only.
    pub fn implicit_keep_only(error: Option<RuntimeError>) -> Outcome {
        Outcome {
            actions: Vec::new(),
            implicit_keep: true,
            error,
        }
    }
}

enum Flow {
    Continue,
    Stop,
}

/// The addresses of one header field, parsed once per evaluation.
struct ParsedAddresses {
    addresses: Vec<Address>,
    /// The unfolded value, compared by `:all` when no address parsed.
    raw: Option<String>,
}

pub(crate) struct Evaluator<'m, 'a> {
    message: &'m Message<'a>,
    work: Work,
    max_actions: usize,
    actions_run: usize,
    actions: Vec<Action>,
    implicit_keep: bool,
    decoded: Vec<OnceCell<String>>,
    parsed: Vec<OnceCell<ParsedAddresses>>,
}

impl<'m, 'a> Evaluator<'m, 'a> {
    pub(crate) fn new(message: &'m Message<'a>, max_work: u64, max_actions: usize) -> Self {
        let fields = message.headers.len();
        Evaluator {
            message,
            work: Work::new(max_work),
            max_actions,
            actions_run: 0,
            actions: Vec::new(),
            implicit_keep: true,
            decoded: (0..fields).map(|_| OnceCell::new()).collect(),
            parsed: (0..fields).map(|_| OnceCell::new()).collect(),
        }
    }

    pub(crate) fn run(mut self, commands: &[Command]) -> Outcome {
        match self.block(commands) {
            Ok(_) => Outcome {
                actions: self.actions,
                implicit_keep: self.implicit_keep,
                error: None,
            },
            Err(error) => Outcome::implicit_keep_only(Some(error)),
        }
    }

    fn block(&mut self, commands: &[Command]) -> Result<Flow, RuntimeError> {
        for command in commands {
            let flow = match command {
                Command::If {
                    branches,
                    otherwise,
                } => self.conditional(branches, otherwise.as_deref())?,
                Command::Stop => Flow::Stop,
                Command::Keep => {
                    self.store(Mailbox::Inbox, false)?;
                    self.implicit_keep = false;
                    Flow::Continue
                }
                Command::Discard => {
                    self.count_action()?;
                    if !self.actions.contains(&Action::Discard) {
                        self.actions.push(Action::Discard);
                    }
                    self.implicit_keep = false;
                    Flow::Continue
                }
                Command::FileInto {
                    mailbox,
                    create,
                    copy,
                } => {
                    self.store(Mailbox::named(mailbox), *create)?;
                    if !copy {
                        self.implicit_keep = false;
                    }
                    Flow::Continue
                }
            };
            if let Flow::Stop = flow {
                return Ok(Flow::Stop);
            }
        }
        Ok(Flow::Continue)
    }

    fn conditional(
        &mut self,
        branches: &[(Test, Vec<Command>)],
        otherwise: Option<&[Command]>,
    ) -> Result<Flow, RuntimeError> {
        for (test, block) in branches {
            if self.test(test)? {
                return self.block(block);
            }
        }
        match otherwise {
            Some(block) => self.block(block),
            None => Ok(Flow::Continue),
        }
    }

    fn count_action(&mut self) -> Result<(), RuntimeError> {
        self.actions_run += 1;
        if self.actions_run > self.max_actions {
            return Err(RuntimeError::TooManyActions {
                limit: self.max_actions,
            });
        }
        Ok(())
    }

    /// Stores once per mailbox (RFC 5228 2.10.3); a repeat can only add `:create`.
    fn store(&mut self, mailbox: Mailbox, create: bool) -> Result<(), RuntimeError> {
        self.count_action()?;
        let existing = self.actions.iter_mut().find_map(|action| match action {
            Action::Store(delivery) if delivery.mailbox == mailbox => Some(delivery),
            _ => None,
        });
        match existing {
            Some(delivery) => delivery.create |= create,
            None => self
                .actions
                .push(Action::Store(Delivery { mailbox, create })),
        }
        Ok(())
    }

    fn test(&mut self, test: &Test) -> Result<bool, RuntimeError> {
        Ok(match test {
            Test::True => true,
            Test::False => false,
            Test::Not(inner) => !self.test(inner)?,
            Test::AllOf(tests) => {
                for inner in tests {
                    if !self.test(inner)? {
                        return Ok(false);
                    }
                }
                true
            }
            Test::AnyOf(tests) => {
                for inner in tests {
                    if self.test(inner)? {
                        return Ok(true);
                    }
                }
                false
            }
            Test::Header { names, matcher } => self.header(names, matcher)?,
            Test::Address {
                part,
                names,
                matcher,
            } => self.address(*part, names, matcher)?,
            Test::Envelope {
                part,
                parts,
                matcher,
            } => self.envelope(*part, parts, matcher)?,
            Test::Exists(names) => {
                let mut all = true;
                for name in names {
                    self.work.charge(self.message.headers.len())?;
                    all &= self.fields(name).next().is_some();
                }
                all
            }
            Test::Size { over, limit } => {
                if *over {
                    self.message.size > *limit
                } else {
                    self.message.size < *limit
                }
            }
            Test::MailboxExists(names) => names.iter().all(|name| {
                name.eq_ignore_ascii_case("INBOX")
                    || self
                        .message
                        .mailbox_exists
                        .is_some_and(|exists| exists(name))
            }),
        })
    }

    /// Indexes of the fields called `name` (lower-case).
    fn fields<'s>(&'s self, name: &'s str) -> impl Iterator<Item = usize> + 's {
        self.message
            .headers
            .iter()
            .enumerate()
            .filter(move |(_, field)| field.name.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(index, _)| index)
    }

    fn header(&mut self, names: &[String], matcher: &Matcher) -> Result<bool, RuntimeError> {
        for name in names {
            self.work.charge(self.message.headers.len())?;
            let indexes: Vec<usize> = self.fields(name).collect();
            for index in indexes {
                let (Some(cell), Some(field)) =
                    (self.decoded.get(index), self.message.headers.get(index))
                else {
                    continue;
                };
                let value = cell.get_or_init(|| rfc2047::decode(&rfc2047::unfold(field.value)));
                if matcher.matches(value.as_bytes(), &mut self.work)? {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    fn address(
        &mut self,
        part: AddressPart,
        names: &[String],
        matcher: &Matcher,
    ) -> Result<bool, RuntimeError> {
        for name in names {
            self.work.charge(self.message.headers.len())?;
            let indexes: Vec<usize> = self.fields(name).collect();
            for index in indexes {
                let (Some(cell), Some(field)) =
                    (self.parsed.get(index), self.message.headers.get(index))
                else {
                    continue;
                };
                self.work.charge(field.value.len())?;
                let parsed = cell.get_or_init(|| {
                    let raw = String::from_utf8_lossy(&rfc2047::unfold(field.value)).into_owned();
                    let addresses = address::parse_list(&raw);
                    let fallback = addresses.is_empty() && !address::only_comments(&raw);
                    ParsedAddresses {
                        addresses,
                        raw: fallback.then_some(raw),
                    }
                });
                if let Some(raw) = &parsed.raw {
                    if part == AddressPart::All
                        && matcher.matches(raw.as_bytes(), &mut self.work)?
                    {
                        return Ok(true);
                    }
                    continue;
                }
                for address in &parsed.addresses {
                    let value = match part {
                        AddressPart::All => address.all(),
                        AddressPart::LocalPart => address.local_part.clone(),
                        AddressPart::Domain => address.domain.clone(),
                    };
                    if matcher.matches(value.as_bytes(), &mut self.work)? {
                        return Ok(true);
                    }
                }
            }
        }
        Ok(false)
    }

    fn envelope(
        &mut self,
        part: AddressPart,
        parts: &[EnvelopePart],
        matcher: &Matcher,
    ) -> Result<bool, RuntimeError> {
        for envelope_part in parts {
            let path = match envelope_part {
                EnvelopePart::From => self.message.envelope_from,
                EnvelopePart::To => self.message.envelope_to,
            };
            let Some(path) = path else { continue };
            // RFC 5228 5.4: the null reverse path is the empty string whatever the part.
            let value = if path.is_empty() {
                Some("")
            } else {
                let (local, domain) = address::split_path(path);
                match part {
                    AddressPart::All => Some(path),
                    AddressPart::LocalPart => Some(local),
                    AddressPart::Domain => domain,
                }
            };
            if let Some(value) = value
                && matcher.matches(value.as_bytes(), &mut self.work)?
            {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
