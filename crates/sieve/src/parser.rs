//! The generic grammar of RFC 5228 section 8.2 (commands, arguments, tests, blocks) into a
//! syntax tree that knows no command names; [`crate::compile`] gives the names meaning.
//! Nesting depth and node count are checked here, so the recursion can never run deep.

use crate::Limits;
use crate::error::{CompileError, Position};
use crate::lexer::{Lexer, Token, TokenKind};

#[derive(Debug, Clone)]
pub(crate) enum Argument {
    /// A single string is a list of one; `bracketed` tells the two spellings apart where a
    /// command wants exactly one string.
    Strings {
        values: Vec<String>,
        bracketed: bool,
        position: Position,
    },
    Number {
        value: u64,
        position: Position,
    },
    Tag {
        name: String,
        position: Position,
    },
}

impl Argument {
    pub(crate) fn position(&self) -> Position {
        match self {
            Argument::Strings { position, .. }
            | Argument::Number { position, .. }
            | Argument::Tag { position, .. } => *position,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Test {
    pub name: String,
    pub position: Position,
    pub arguments: Vec<Argument>,
    pub tests: Vec<Test>,
    /// Whether the tests were written as a parenthesised list.
    pub test_list: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Command {
    pub name: String,
    pub position: Position,
    pub arguments: Vec<Argument>,
    pub tests: Vec<Test>,
    pub test_list: bool,
    pub block: Option<Vec<Command>>,
}

pub(crate) struct Parser<'a> {
    lexer: Lexer<'a>,
    peeked: Option<Token>,
    limits: &'a Limits,
    nodes: usize,
}

impl<'a> Parser<'a> {
    pub(crate) fn new(source: &'a str, limits: &'a Limits) -> Self {
        Parser {
            lexer: Lexer::new(source),
            peeked: None,
            limits,
            nodes: 0,
        }
    }

    fn peek(&mut self) -> Result<&Token, CompileError> {
        let token = match self.peeked.take() {
            Some(token) => token,
            None => self.lexer.next_token()?,
        };
        Ok(self.peeked.insert(token))
    }

    fn next(&mut self) -> Result<Token, CompileError> {
        match self.peeked.take() {
            Some(token) => Ok(token),
            None => self.lexer.next_token(),
        }
    }

    fn count_node(&mut self, position: Position) -> Result<(), CompileError> {
        self.nodes += 1;
        if self.nodes > self.limits.max_commands {
            return Err(CompileError::at(
                position,
                format!(
                    "too many commands and tests (the limit is {})",
                    self.limits.max_commands
                ),
            ));
        }
        Ok(())
    }

    fn check_depth(&self, depth: usize, position: Position) -> Result<(), CompileError> {
        if depth > self.limits.max_nesting {
            return Err(CompileError::at(
                position,
                format!(
                    "nested too deeply (the limit is {})",
                    self.limits.max_nesting
                ),
            ));
        }
        Ok(())
    }

    /// The whole script.
    pub(crate) fn script(mut self) -> Result<Vec<Command>, CompileError> {
        let commands = self.commands(0)?;
        let token = self.next()?;
        match token.kind {
            TokenKind::End => Ok(commands),
            other => Err(CompileError::at(
                token.position,
                format!("expected a command, found {}", other.describe()),
            )),
        }
    }

    fn commands(&mut self, depth: usize) -> Result<Vec<Command>, CompileError> {
        let mut commands = Vec::new();
        while matches!(self.peek()?.kind, TokenKind::Identifier(_)) {
            commands.push(self.command(depth)?);
        }
        Ok(commands)
    }

    fn command(&mut self, depth: usize) -> Result<Command, CompileError> {
        let token = self.next()?;
        let TokenKind::Identifier(name) = token.kind else {
            return Err(CompileError::at(token.position, "expected a command"));
        };
        self.count_node(token.position)?;
        let arguments = self.arguments()?;
        let (tests, test_list) = self.tests(depth + 1)?;
        let end = self.next()?;
        let block = match end.kind {
            TokenKind::Semicolon => None,
            TokenKind::LeftBrace => {
                self.check_depth(depth + 1, end.position)?;
                let block = self.commands(depth + 1)?;
                let close = self.next()?;
                if close.kind != TokenKind::RightBrace {
                    return Err(CompileError::at(
                        close.position,
                        format!(
                            "expected a command or '}}' closing the block of '{name}', found {}",
                            close.kind.describe()
                        ),
                    ));
                }
                Some(block)
            }
            other => {
                return Err(CompileError::at(
                    end.position,
                    format!(
                        "expected ';' or '{{' after '{name}', found {}",
                        other.describe()
                    ),
                ));
            }
        };
        Ok(Command {
            name,
            position: token.position,
            arguments,
            tests,
            test_list,
            block,
        })
    }

    fn arguments(&mut self) -> Result<Vec<Argument>, CompileError> {
        let mut arguments = Vec::new();
        loop {
            let position = self.peek()?.position;
            match self.peek()?.kind {
                TokenKind::Tag(_) | TokenKind::Number(_) | TokenKind::String(_) => {
                    let token = self.next()?;
                    arguments.push(match token.kind {
                        TokenKind::Tag(name) => Argument::Tag { name, position },
                        TokenKind::Number(value) => Argument::Number { value, position },
                        TokenKind::String(value) => Argument::Strings {
                            values: vec![value],
                            bracketed: false,
                            position,
                        },
                        _ => return Err(CompileError::at(position, "expected an argument")),
                    });
                }
                TokenKind::LeftBracket => {
                    self.next()?;
                    arguments.push(Argument::Strings {
                        values: self.string_list()?,
                        bracketed: true,
                        position,
                    });
                }
                _ => return Ok(arguments),
            }
        }
    }

    /// After the "[": strings separated by commas, then "]"; never empty (RFC 5228 8.2).
    fn string_list(&mut self) -> Result<Vec<String>, CompileError> {
        let mut values = Vec::new();
        loop {
            let token = self.next()?;
            match token.kind {
                TokenKind::String(value) => values.push(value),
                other => {
                    return Err(CompileError::at(
                        token.position,
                        format!("expected a string in the list, found {}", other.describe()),
                    ));
                }
            }
            let token = self.next()?;
            match token.kind {
                TokenKind::Comma => {}
                TokenKind::RightBracket => return Ok(values),
                other => {
                    return Err(CompileError::at(
                        token.position,
                        format!(
                            "expected ',' or ']' in the string list, found {}",
                            other.describe()
                        ),
                    ));
                }
            }
        }
    }

    /// An optional test or parenthesised test list after the arguments.
    fn tests(&mut self, depth: usize) -> Result<(Vec<Test>, bool), CompileError> {
        match self.peek()?.kind {
            TokenKind::Identifier(_) => Ok((vec![self.test(depth)?], false)),
            TokenKind::LeftParen => {
                let open = self.next()?;
                self.check_depth(depth, open.position)?;
                let mut tests = Vec::new();
                loop {
                    if !matches!(self.peek()?.kind, TokenKind::Identifier(_)) {
                        let token = self.next()?;
                        return Err(CompileError::at(
                            token.position,
                            format!(
                                "expected a test in the test list, found {}",
                                token.kind.describe()
                            ),
                        ));
                    }
                    tests.push(self.test(depth)?);
                    let token = self.next()?;
                    match token.kind {
                        TokenKind::Comma => {}
                        TokenKind::RightParen => return Ok((tests, true)),
                        other => {
                            return Err(CompileError::at(
                                token.position,
                                format!(
                                    "expected ',' or ')' in the test list, found {}",
                                    other.describe()
                                ),
                            ));
                        }
                    }
                }
            }
            _ => Ok((Vec::new(), false)),
        }
    }

    fn test(&mut self, depth: usize) -> Result<Test, CompileError> {
        let token = self.next()?;
        let TokenKind::Identifier(name) = token.kind else {
            return Err(CompileError::at(token.position, "expected a test"));
        };
        self.check_depth(depth, token.position)?;
        self.count_node(token.position)?;
        let arguments = self.arguments()?;
        let (tests, test_list) = self.tests(depth + 1)?;
        Ok(Test {
            name,
            position: token.position,
            arguments,
            tests,
            test_list,
        })
    }
}
