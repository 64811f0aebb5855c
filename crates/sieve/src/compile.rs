//! Gives the generic syntax tree its meaning: `require` and capabilities, command and test
//! names, tagged and positional arguments, `if`/`elsif`/`else` chains. Everything a script
//! could get wrong is reported here with its line, so evaluation cannot fail on the script.

use crate::ast::{AddressPart, Command, EnvelopePart, Test};
use crate::error::{CompileError, Position};
use crate::matching::{Comparator, MatchType, Matcher};
use crate::parser::{self, Argument};

/// What `require` accepts.
pub const CAPABILITIES: &[&str] = &[
    "fileinto",
    "envelope",
    "mailbox",
    "copy",
    "comparator-i;octet",
    "comparator-i;ascii-casemap",
];

/// Extensions people commonly require that this implementation refuses on purpose or has
/// not got; naming them gives a clearer error than "unknown".
const NOT_SUPPORTED: &[&str] = &[
    "reject",
    "ereject",
    "vacation",
    "vacation-seconds",
    "enotify",
    "notify",
    "variables",
    "imap4flags",
    "imapflags",
    "body",
    "regex",
    "relational",
    "subaddress",
    "include",
    "date",
    "index",
    "editheader",
    "duplicate",
    "spamtest",
    "spamtestplus",
    "virustest",
    "environment",
    "encoded-character",
    "mime",
    "foreverypart",
    "extracttext",
    "ihave",
    "special-use",
    "comparator-i;ascii-numeric",
];

/// Actions that would send mail or answer the sender: a delivery agent that only files
/// mail must not pretend to run them.
const REFUSED_ACTIONS: &[&str] = &["redirect", "reject", "ereject", "vacation", "notify"];

/// Headers whose bodies are address lists (RFC 5322 3.6.2, 3.6.3, 3.6.6 and common
/// extensions); the `address` test is limited to them as RFC 5228 5.1 requires.
const ADDRESS_HEADERS: &[&str] = &[
    "from",
    "sender",
    "reply-to",
    "to",
    "cc",
    "bcc",
    "resent-from",
    "resent-sender",
    "resent-to",
    "resent-cc",
    "resent-bcc",
    "resent-reply-to",
    "delivered-to",
    "x-original-to",
    "errors-to",
    "apparently-to",
    "mail-followup-to",
    "mail-reply-to",
];

#[derive(Debug, Default)]
struct Capabilities {
    fileinto: bool,
    envelope: bool,
    mailbox: bool,
    copy: bool,
}

/// The tagged arguments a command or test may take, gathered in one pass.
#[derive(Debug, Default)]
struct Tags {
    match_type: Option<MatchType>,
    comparator: Option<Comparator>,
    address_part: Option<AddressPart>,
    size_over: Option<bool>,
    create: bool,
    copy: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TagSet {
    /// header: match type and comparator.
    Match,
    /// address, envelope: those and an address part.
    MatchAddress,
    Size,
    FileInto,
    None,
}

fn error<T>(position: Position, message: impl Into<String>) -> Result<T, CompileError> {
    Err(CompileError::at(position, message))
}

pub(crate) fn compile(commands: Vec<parser::Command>) -> Result<Vec<Command>, CompileError> {
    let mut compiler = Compiler {
        capabilities: Capabilities::default(),
    };
    let mut rest = commands.into_iter().peekable();
    while let Some(command) = rest.next_if(|command| command.name == "require") {
        compiler.require(command)?;
    }
    compiler.commands(rest.collect())
}

struct Compiler {
    capabilities: Capabilities,
}

impl Compiler {
    fn require(&mut self, command: parser::Command) -> Result<(), CompileError> {
        let [Argument::Strings { values, .. }] = command.arguments.as_slice() else {
            return error(
                command.position,
                "require takes one string or string list of capabilities",
            );
        };
        no_tests_or_block(&command)?;
        for name in values {
            match name.as_str() {
                "fileinto" => self.capabilities.fileinto = true,
                "envelope" => self.capabilities.envelope = true,
                "mailbox" => self.capabilities.mailbox = true,
                "copy" => self.capabilities.copy = true,
                "comparator-i;octet" | "comparator-i;ascii-casemap" => {}
                other if NOT_SUPPORTED.contains(&other) => {
                    return error(
                        command.position,
                        format!("the Sieve extension '{other}' is not supported"),
                    );
                }
                other => {
                    return error(
                        command.position,
                        format!("unknown Sieve capability '{other}'"),
                    );
                }
            }
        }
        Ok(())
    }

    fn commands(&self, commands: Vec<parser::Command>) -> Result<Vec<Command>, CompileError> {
        let mut out: Vec<Command> = Vec::with_capacity(commands.len());
        // Whether the last command compiled was an if or elsif an elsif/else may extend.
        let mut open_if = false;
        for command in commands {
            let position = command.position;
            match command.name.as_str() {
                "elsif" | "else" => {
                    let name = command.name.clone();
                    let Some(Command::If {
                        branches,
                        otherwise,
                    }) = out.last_mut().filter(|_| open_if)
                    else {
                        return error(
                            position,
                            format!("{name} must follow an if or elsif command"),
                        );
                    };
                    if name == "elsif" {
                        let (test, block) = self.conditional(command)?;
                        branches.push((test, block));
                    } else {
                        *otherwise = Some(self.block_only(command)?);
                        open_if = false;
                    }
                }
                "if" => {
                    let (test, block) = self.conditional(command)?;
                    out.push(Command::If {
                        branches: vec![(test, block)],
                        otherwise: None,
                    });
                    open_if = true;
                }
                _ => {
                    out.push(self.action(command)?);
                    open_if = false;
                }
            }
        }
        Ok(out)
    }

    fn conditional(&self, command: parser::Command) -> Result<(Test, Vec<Command>), CompileError> {
        let name = &command.name;
        if let Some(argument) = command.arguments.first() {
            return error(argument.position(), format!("{name} takes no arguments"));
        }
        let Some(block) = command.block else {
            return error(command.position, format!("{name} needs a block {{ ... }}"));
        };
        let mut tests = command.tests.into_iter();
        let (Some(test), None, false) = (tests.next(), tests.next(), command.test_list) else {
            return error(command.position, format!("{name} takes exactly one test"));
        };
        Ok((self.test(test)?, self.commands(block)?))
    }

    fn block_only(&self, command: parser::Command) -> Result<Vec<Command>, CompileError> {
        if !command.arguments.is_empty() || !command.tests.is_empty() {
            return error(command.position, "else takes no arguments or tests");
        }
        match command.block {
            Some(block) => self.commands(block),
            None => error(command.position, "else needs a block { ... }"),
        }
    }

    fn action(&self, command: parser::Command) -> Result<Command, CompileError> {
        let position = command.position;
        let name = command.name.as_str();
        match name {
            "require" => {
                return error(
                    position,
                    "require must come before any other command, at the top level",
                );
            }
            _ if REFUSED_ACTIONS.contains(&name) => {
                return error(
                    position,
                    format!(
                        "the {name} action is not supported (this delivery agent only files mail)"
                    ),
                );
            }
            "stop" | "keep" | "discard" | "fileinto" => {}
            _ => return error(position, format!("unknown command '{name}'")),
        }
        no_tests_or_block(&command)?;
        if name == "fileinto" && !self.capabilities.fileinto {
            return error(position, "fileinto needs require \"fileinto\"");
        }
        let tag_set = if name == "fileinto" {
            TagSet::FileInto
        } else {
            TagSet::None
        };
        let (tags, positional) = self.tags(name, command.arguments, tag_set)?;
        Ok(match name {
            "fileinto" => Command::FileInto {
                mailbox: one_string(name, &positional, position)?,
                create: tags.create,
                copy: tags.copy,
            },
            _ => {
                if let Some(argument) = positional.first() {
                    return error(argument.position(), format!("{name} takes no arguments"));
                }
                match name {
                    "stop" => Command::Stop,
                    "keep" => Command::Keep,
                    _ => Command::Discard,
                }
            }
        })
    }

    /// Splits tagged from positional arguments; tags must come first (RFC 5228 2.6.2).
    fn tags(
        &self,
        owner: &str,
        arguments: Vec<Argument>,
        set: TagSet,
    ) -> Result<(Tags, Vec<Argument>), CompileError> {
        let mut tags = Tags::default();
        let mut positional = Vec::new();
        let mut arguments = arguments.into_iter();
        while let Some(argument) = arguments.next() {
            let Argument::Tag { name, position } = argument else {
                positional.push(argument);
                continue;
            };
            if !positional.is_empty() {
                return error(
                    position,
                    format!("tag :{name} must come before the other arguments of {owner}"),
                );
            }
            let matching = matches!(set, TagSet::Match | TagSet::MatchAddress);
            let duplicate = || {
                error(
                    position,
                    format!("{owner} has more than one tag of the kind of :{name}"),
                )
            };
            match name.as_str() {
                "is" | "contains" | "matches" if matching => {
                    if tags.match_type.is_some() {
                        return duplicate();
                    }
                    tags.match_type = Some(match name.as_str() {
                        "is" => MatchType::Is,
                        "contains" => MatchType::Contains,
                        _ => MatchType::Matches,
                    });
                }
                "comparator" if matching => {
                    if tags.comparator.is_some() {
                        return duplicate();
                    }
                    let Some(Argument::Strings {
                        values,
                        bracketed: false,
                        position,
                    }) = arguments.next()
                    else {
                        return error(position, ":comparator must be followed by one string");
                    };
                    let name = values.concat();
                    let Some(comparator) = Comparator::by_name(&name) else {
                        return error(position, format!("unknown comparator '{name}'"));
                    };
                    tags.comparator = Some(comparator);
                }
                "all" | "localpart" | "domain" if set == TagSet::MatchAddress => {
                    if tags.address_part.is_some() {
                        return duplicate();
                    }
                    tags.address_part = Some(match name.as_str() {
                        "all" => AddressPart::All,
                        "localpart" => AddressPart::LocalPart,
                        _ => AddressPart::Domain,
                    });
                }
                "over" | "under" if set == TagSet::Size => {
                    if tags.size_over.is_some() {
                        return duplicate();
                    }
                    tags.size_over = Some(name == "over");
                }
                "create" if set == TagSet::FileInto && self.capabilities.mailbox => {
                    if tags.create {
                        return duplicate();
                    }
                    tags.create = true;
                }
                "copy" if set == TagSet::FileInto && self.capabilities.copy => {
                    if tags.copy {
                        return duplicate();
                    }
                    tags.copy = true;
                }
                "create" if set == TagSet::FileInto => {
                    return error(position, ":create needs require \"mailbox\"");
                }
                "copy" if set == TagSet::FileInto => {
                    return error(position, ":copy needs require \"copy\"");
                }
                _ => return error(position, format!("unknown tag :{name} for {owner}")),
            }
        }
        Ok((tags, positional))
    }

    fn test(&self, test: parser::Test) -> Result<Test, CompileError> {
        let position = test.position;
        let name = test.name.as_str();
        let takes_tests = matches!(name, "allof" | "anyof" | "not");
        if !takes_tests && !test.tests.is_empty() {
            return error(position, format!("{name} takes no tests"));
        }
        let set = match name {
            "header" => TagSet::Match,
            "address" | "envelope" => TagSet::MatchAddress,
            "size" => TagSet::Size,
            _ => TagSet::None,
        };
        let (tags, positional) = self.tags(name, test.arguments, set)?;
        let matcher = |keys: &[String]| {
            Matcher::new(
                tags.match_type.unwrap_or(MatchType::Is),
                tags.comparator.unwrap_or(Comparator::AsciiCasemap),
                keys,
            )
        };
        let count = |n: usize| {
            if positional.len() == n {
                Ok(())
            } else {
                error(
                    position,
                    format!(
                        "{name} takes {n} argument(s) after its tags, found {}",
                        positional.len()
                    ),
                )
            }
        };
        Ok(match name {
            "true" | "false" => {
                count(0)?;
                if name == "true" {
                    Test::True
                } else {
                    Test::False
                }
            }
            "not" => {
                count(0)?;
                let mut tests = test.tests.into_iter();
                match (tests.next(), tests.next(), test.test_list) {
                    (Some(inner), None, false) => Test::Not(Box::new(self.test(inner)?)),
                    _ => return error(position, "not takes exactly one test"),
                }
            }
            "allof" | "anyof" => {
                count(0)?;
                if !test.test_list {
                    return error(position, format!("{name} takes a list of tests ( ... )"));
                }
                let tests = test
                    .tests
                    .into_iter()
                    .map(|inner| self.test(inner))
                    .collect::<Result<Vec<_>, _>>()?;
                if name == "allof" {
                    Test::AllOf(tests)
                } else {
                    Test::AnyOf(tests)
                }
            }
            "header" => {
                count(2)?;
                Test::Header {
                    names: lowercase(strings(name, &positional, 0, position)?),
                    matcher: matcher(strings(name, &positional, 1, position)?),
                }
            }
            "address" => {
                count(2)?;
                let names = lowercase(strings(name, &positional, 0, position)?);
                if let Some(bad) = names
                    .iter()
                    .find(|h| !ADDRESS_HEADERS.contains(&h.as_str()))
                {
                    return error(
                        position,
                        format!("the address test cannot be used on header '{bad}'"),
                    );
                }
                Test::Address {
                    part: tags.address_part.unwrap_or(AddressPart::All),
                    names,
                    matcher: matcher(strings(name, &positional, 1, position)?),
                }
            }
            "envelope" => {
                if !self.capabilities.envelope {
                    return error(position, "envelope needs require \"envelope\"");
                }
                count(2)?;
                let parts = strings(name, &positional, 0, position)?
                    .iter()
                    .map(|part| match part.to_ascii_lowercase().as_str() {
                        "from" => Ok(EnvelopePart::From),
                        "to" => Ok(EnvelopePart::To),
                        _ => error(position, format!("unsupported envelope part '{part}'")),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Test::Envelope {
                    part: tags.address_part.unwrap_or(AddressPart::All),
                    parts,
                    matcher: matcher(strings(name, &positional, 1, position)?),
                }
            }
            "exists" => {
                count(1)?;
                Test::Exists(lowercase(strings(name, &positional, 0, position)?))
            }
            "size" => {
                count(1)?;
                let Some(over) = tags.size_over else {
                    return error(position, "size needs :over or :under");
                };
                let [Argument::Number { value, .. }] = positional.as_slice() else {
                    return error(position, "size takes a number");
                };
                Test::Size {
                    over,
                    limit: *value,
                }
            }
            "mailboxexists" => {
                if !self.capabilities.mailbox {
                    return error(position, "mailboxexists needs require \"mailbox\"");
                }
                count(1)?;
                Test::MailboxExists(strings(name, &positional, 0, position)?.to_vec())
            }
            _ => return error(position, format!("unknown test '{name}'")),
        })
    }
}

fn no_tests_or_block(command: &parser::Command) -> Result<(), CompileError> {
    let name = &command.name;
    if !command.tests.is_empty() {
        return error(command.position, format!("{name} takes no tests"));
    }
    if command.block.is_some() {
        return error(
            command.position,
            format!("{name} takes no block; end it with ';'"),
        );
    }
    Ok(())
}

fn strings<'a>(
    owner: &str,
    positional: &'a [Argument],
    index: usize,
    at: Position,
) -> Result<&'a [String], CompileError> {
    match positional.get(index) {
        Some(Argument::Strings { values, .. }) => Ok(values),
        Some(other) => error(
            other.position(),
            format!(
                "argument {} of {owner} must be a string or string list",
                index + 1
            ),
        ),
        None => error(at, format!("{owner} is missing an argument")),
    }
}

fn one_string(owner: &str, positional: &[Argument], at: Position) -> Result<String, CompileError> {
    match positional {
        [
            Argument::Strings {
                values,
                bracketed: false,
                ..
            },
        ] => Ok(values.concat()),
        _ => error(at, format!("{owner} takes exactly one string")),
    }
}

fn lowercase(names: &[String]) -> Vec<String> {
    names.iter().map(|name| name.to_ascii_lowercase()).collect()
}
