//! A POSIX shell parser for EntryTrace (shell command language, POSIX XCU chapter 2, plus the bash
//! forms entrypoint scripts use: `[[ … ]]`, `function f`, `${x:o:l}`, `${!x}`, `$'…'`, arrays skipped).
//!
//! It builds an AST with line numbers and byte spans so the tracer can quote the command text. Command
//! substitutions are parsed (their value is unknown to a static reader), arithmetic is skipped, here-doc
//! bodies are skipped (`<<-` and quoted delimiters included). Input size, nesting depth and token count
//! are bounded; a syntax error stops the parse and returns the complete commands read before it, as a
//! shell that reads a script command by command would have run them.

/// Largest script parsed (bigger input is cut here and reported).
pub const MAX_INPUT: usize = 1 << 20;
/// Deepest nesting of compound commands, substitutions and expansions.
pub const MAX_DEPTH: usize = 64;
/// Most tokens read from one input (all nesting levels together).
pub const MAX_TOKENS: usize = 400_000;

/// A parsed script: its top-level commands, and the error that stopped the parse, if any.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Parsed {
    /// Complete commands read before the end (or before the error).
    pub program: Program,
    /// Why the parse stopped early.
    pub error: Option<ParseError>,
}

/// A syntax error or limit, with the 1-based line where it was found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// What went wrong.
    pub message: String,
}

/// A list of and-or lists (`a; b & c`).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Program {
    /// The lists in order.
    pub items: Vec<AndOr>,
}

/// `p1 && p2 || p3`, optionally run in the background (`&`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AndOr {
    /// The first pipeline.
    pub first: Pipeline,
    /// The following pipelines with the operator before each.
    pub rest: Vec<(Connector, Pipeline)>,
    /// Ended by `&`.
    pub background: bool,
}

/// `&&` or `||`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Connector {
    /// `&&`
    And,
    /// `||`
    Or,
}

/// `[!] c1 | c2 | …`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Pipeline {
    /// Started by `!`.
    pub negated: bool,
    /// The commands (at least one).
    pub commands: Vec<Command>,
}

/// One command with its 1-based line and byte span in the source it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Command {
    /// 1-based line of its first token.
    pub line: usize,
    /// Byte range `[start, end)` in the parsed source.
    pub span: (usize, usize),
    /// What it is.
    pub kind: CommandKind,
    /// Redirections after a compound command (simple commands keep theirs inside).
    pub redirects: Vec<Redirect>,
}

/// The kinds of command.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum CommandKind {
    /// `A=1 cmd args >out`.
    Simple(SimpleCommand),
    /// `{ list; }`
    Group(Program),
    /// `( list )`
    Subshell(Program),
    /// `if c; then …; elif c; then …; else …; fi`: (condition, body) pairs and the else body.
    If {
        /// `if`/`elif` arms.
        arms: Vec<(Program, Program)>,
        /// `else` body.
        otherwise: Option<Program>,
    },
    /// `while c; do …; done` (`until` when `until` is true).
    While {
        /// `until` instead of `while`.
        until: bool,
        /// The condition.
        cond: Program,
        /// The body.
        body: Program,
    },
    /// `for name [in words]; do …; done` (`words` None: the positional parameters).
    For {
        /// Loop variable.
        var: String,
        /// The words after `in`.
        words: Option<Vec<Word>>,
        /// The body.
        body: Program,
    },
    /// `case word in pat|pat) …;; esac`.
    Case {
        /// The subject.
        word: Word,
        /// The items in order.
        items: Vec<CaseItem>,
    },
    /// `name() compound` or `function name compound`.
    FunctionDef {
        /// Function name.
        name: String,
        /// Its body.
        body: Box<Command>,
    },
    /// A form we skip (bash `for ((…))`, `select`, `coproc`): its words are not interpreted.
    Unsupported(String),
}

/// One `pat|pat) body ;;` item.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CaseItem {
    /// 1-based line of the first pattern.
    pub line: usize,
    /// The patterns.
    pub patterns: Vec<Word>,
    /// The body.
    pub body: Program,
    /// Ended by `;&` (fall through into the next body).
    pub fallthrough: bool,
}

/// A simple command.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct SimpleCommand {
    /// Leading `NAME=value` assignments.
    pub assigns: Vec<(String, Word)>,
    /// The command name and arguments.
    pub words: Vec<Word>,
    /// Redirections.
    pub redirects: Vec<Redirect>,
}

/// A redirection: operator, optional fd, target word (the delimiter for here-docs).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Redirect {
    /// Explicit file descriptor (`2>`).
    pub fd: Option<u32>,
    /// The operator text (`>`, `>>`, `<`, `<<`, `<<-`, `<&`, `>&`, `<>`, `>|`, `&>`, `&>>`, `<<<`).
    pub op: String,
    /// Target (file, fd, here-doc delimiter, here-string).
    pub target: Word,
}

/// A shell word: parts concatenated, with its source text.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Word {
    /// The parts in order.
    pub parts: Vec<Part>,
    /// The source text of the word.
    pub raw: String,
}

/// A piece of a word.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Part {
    /// Literal text; `quoted` when it came from quotes or a backslash (no splitting, no globbing).
    Lit {
        /// The text.
        text: String,
        /// From quotes or an escape.
        quoted: bool,
    },
    /// A parameter expansion.
    Param(Box<Param>),
    /// `$(…)` or backticks: parsed, its output unknown.
    CmdSubst {
        /// The parsed command.
        program: Program,
        /// Inside double quotes.
        quoted: bool,
    },
    /// `$((…))`: skipped.
    Arith {
        /// The expression text.
        text: String,
        /// Inside double quotes.
        quoted: bool,
    },
}

/// `$x`, `${x…}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Param {
    /// Name: an identifier, a digit string, or one of `@ * # ? $ ! -`.
    pub name: String,
    /// `${x[i]}`: the subscript text.
    pub index: Option<String>,
    /// `${!x}`: indirection.
    pub indirect: bool,
    /// The operator.
    pub op: ParamOp,
    /// The word after the operator.
    pub arg: Option<Word>,
    /// Inside double quotes.
    pub quoted: bool,
}

/// Parameter expansion operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ParamOp {
    /// `$x`, `${x}`
    Plain,
    /// `${#x}`
    Length,
    /// `${x-w}` / `${x:-w}` (colon: also when empty)
    Default(bool),
    /// `${x=w}` / `${x:=w}`
    Assign(bool),
    /// `${x?w}` / `${x:?w}`
    Error(bool),
    /// `${x+w}` / `${x:+w}`
    Alt(bool),
    /// `${x#p}`
    RemovePrefix,
    /// `${x##p}`
    RemoveLongPrefix,
    /// `${x%p}`
    RemoveSuffix,
    /// `${x%%p}`
    RemoveLongSuffix,
    /// `${x:offset[:length]}` (arg holds `offset[:length]`)
    Substring,
    /// `${x/p/r}` and friends (not evaluated)
    Replace,
    /// `${x^^}` / `${x^}`
    Upper,
    /// `${x,,}` / `${x,}`
    Lower,
}

/// Parses a script.
pub fn parse(src: &[u8]) -> Parsed {
    let mut cut = None;
    let src = match src.get(..MAX_INPUT) {
        Some(s) if src.len() > MAX_INPUT => {
            cut = Some(ParseError {
                line: 1,
                message: format!("script larger than {MAX_INPUT} bytes, cut"),
            });
            s
        }
        _ => src,
    };
    let mut p = Parser::new(src, 0, 1);
    let mut parsed = p.parse_top();
    if parsed.error.is_none() {
        parsed.error = cut;
    }
    parsed
}

/// Splits an assignment word `NAME=value` into the name and the value word.
pub fn split_assignment(word: &Word) -> Option<(String, Word)> {
    let Some(Part::Lit {
        text,
        quoted: false,
    }) = word.parts.first()
    else {
        return None;
    };
    let eq = text.find('=')?;
    let name = text.get(..eq)?;
    if !is_name(name) {
        return None;
    }
    let mut parts = Vec::with_capacity(word.parts.len());
    let rest = text.get(eq + 1..).unwrap_or("");
    if !rest.is_empty() {
        parts.push(Part::Lit {
            text: rest.to_owned(),
            quoted: false,
        });
    }
    parts.extend(word.parts.iter().skip(1).cloned());
    let raw = word
        .raw
        .find('=')
        .and_then(|i| word.raw.get(i + 1..))
        .unwrap_or("")
        .to_owned();
    Some((name.to_owned(), Word { parts, raw }))
}

/// A valid shell variable name.
pub fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

impl Word {
    /// The literal text when the word has no expansions (quotes removed).
    pub fn literal(&self) -> Option<String> {
        let mut s = String::new();
        for p in &self.parts {
            match p {
                Part::Lit { text, .. } => s.push_str(text),
                _ => return None,
            }
        }
        Some(s)
    }

    /// An unquoted literal word equal to `kw` (reserved words must be unquoted).
    fn is_keyword(&self, kw: &str) -> bool {
        matches!(self.parts.as_slice(), [Part::Lit { text, quoted: false }] if text == kw)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(Word),
    /// Operator text.
    Op(&'static str),
    /// A digit string directly followed by `<` or `>`.
    IoNumber(u32),
    Newline,
    Eof,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: usize,
    start: usize,
    end: usize,
}

struct PendingHeredoc {
    delim: String,
    strip_tabs: bool,
}

const OPERATORS: &[&str] = &[
    ";;&", "<<-", "<<<", "&>>", "&&", "||", ";;", ";&", "<<", ">>", "<&", ">&", "<>", ">|", "&>",
    "|&", ";", "&", "|", "(", ")", "<", ">",
];

/// Where a word being lexed stops.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A normal token: stops at blanks and metacharacters.
    Normal,
    /// Inside `${ … }`: stops at an unquoted `}`; blanks are literal.
    Brace,
}

struct Parser<'a> {
    src: &'a [u8],
    pos: usize,
    line: usize,
    depth: usize,
    tokens: usize,
    peeked: Option<Token>,
    heredocs: Vec<PendingHeredoc>,
    /// The next word token is a here-doc delimiter (set after `<<`/`<<-`).
    want_delim: Option<bool>,
    /// Offset added to spans (for sources that are slices of a larger text).
    base: usize,
    /// End of the last token consumed.
    prev_end: usize,
}

type PResult<T> = Result<T, ParseError>;

impl<'a> Parser<'a> {
    fn new(src: &'a [u8], base: usize, line: usize) -> Self {
        Parser {
            src,
            pos: 0,
            line,
            depth: 0,
            tokens: 0,
            peeked: None,
            heredocs: Vec::new(),
            want_delim: None,
            base,
            prev_end: 0,
        }
    }

    fn err<T>(&self, message: impl Into<String>) -> PResult<T> {
        Err(ParseError {
            line: self.line,
            message: message.into(),
        })
    }

    fn parse_top(&mut self) -> Parsed {
        let mut program = Program::default();
        loop {
            match self.skip_newlines() {
                Ok(()) => {}
                Err(e) => {
                    return Parsed {
                        program,
                        error: Some(e),
                    }
                }
            }
            match self.peek() {
                Ok(t) if t.tok == Tok::Eof => break,
                Ok(_) => {}
                Err(e) => {
                    return Parsed {
                        program,
                        error: Some(e),
                    }
                }
            }
            match self.parse_line() {
                Ok(items) => program.items.extend(items),
                Err(e) => {
                    return Parsed {
                        program,
                        error: Some(e),
                    }
                }
            }
        }
        Parsed {
            program,
            error: None,
        }
    }

    /// One line of and-or lists at top level (up to a newline or the end).
    fn parse_line(&mut self) -> PResult<Vec<AndOr>> {
        let mut items = Vec::new();
        loop {
            let mut ao = self.parse_and_or()?;
            let t = self.peek()?;
            match t.tok {
                Tok::Op(";") => {
                    self.next()?;
                }
                Tok::Op("&") => {
                    self.next()?;
                    ao.background = true;
                }
                Tok::Newline | Tok::Eof => {
                    items.push(ao);
                    return Ok(items);
                }
                _ => return self.unexpected(&t),
            }
            items.push(ao);
            let t = self.peek()?;
            if matches!(t.tok, Tok::Newline | Tok::Eof) {
                return Ok(items);
            }
        }
    }

    fn unexpected<T>(&self, t: &Token) -> PResult<T> {
        let what = match &t.tok {
            Tok::Word(w) => format!("word `{}`", w.raw),
            Tok::Op(o) => format!("`{o}`"),
            Tok::IoNumber(n) => format!("`{n}`"),
            Tok::Newline => "newline".to_owned(),
            Tok::Eof => "end of input".to_owned(),
        };
        Err(ParseError {
            line: t.line,
            message: format!("syntax error near unexpected {what}"),
        })
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err(format!("nesting deeper than {MAX_DEPTH}"));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// A compound list: and-or lists separated by `;`, `&` or newlines, until a token that starts a
    /// closing keyword or operator (`then`, `fi`, `done`, `}`, `)`, `;;`, …).
    fn parse_compound_list(&mut self) -> PResult<Program> {
        let mut prog = Program::default();
        loop {
            self.skip_newlines()?;
            let t = self.peek()?;
            if self.is_list_end(&t) {
                return Ok(prog);
            }
            let mut ao = self.parse_and_or()?;
            let t = self.peek()?;
            match t.tok {
                Tok::Op(";") | Tok::Newline => {
                    self.next()?;
                }
                Tok::Op("&") => {
                    self.next()?;
                    ao.background = true;
                }
                _ => {}
            }
            prog.items.push(ao);
        }
    }

    fn is_list_end(&self, t: &Token) -> bool {
        match &t.tok {
            Tok::Eof => true,
            Tok::Op(o) => matches!(*o, ")" | ";;" | ";&" | ";;&"),
            Tok::Word(w) => ["then", "else", "elif", "fi", "do", "done", "esac", "}"]
                .iter()
                .any(|k| w.is_keyword(k)),
            _ => false,
        }
    }

    fn skip_newlines(&mut self) -> PResult<()> {
        while self.peek()?.tok == Tok::Newline {
            self.next()?;
        }
        Ok(())
    }

    fn parse_and_or(&mut self) -> PResult<AndOr> {
        let first = self.parse_pipeline()?;
        let mut rest = Vec::new();
        loop {
            let t = self.peek()?;
            let c = match t.tok {
                Tok::Op("&&") => Connector::And,
                Tok::Op("||") => Connector::Or,
                _ => break,
            };
            self.next()?;
            self.skip_newlines()?;
            rest.push((c, self.parse_pipeline()?));
        }
        Ok(AndOr {
            first,
            rest,
            background: false,
        })
    }

    fn parse_pipeline(&mut self) -> PResult<Pipeline> {
        let mut negated = false;
        while let Tok::Word(w) = &self.peek()?.tok {
            if w.is_keyword("!") {
                self.next()?;
                negated = !negated;
            } else if w.is_keyword("time") {
                self.next()?;
            } else {
                break;
            }
        }
        let mut commands = vec![self.parse_command()?];
        while matches!(self.peek()?.tok, Tok::Op("|") | Tok::Op("|&")) {
            self.next()?;
            self.skip_newlines()?;
            commands.push(self.parse_command()?);
        }
        Ok(Pipeline { negated, commands })
    }

    fn expect_keyword(&mut self, kw: &str) -> PResult<Token> {
        let t = self.next()?;
        match &t.tok {
            Tok::Word(w) if w.is_keyword(kw) => Ok(t),
            _ => Err(ParseError {
                line: t.line,
                message: format!("expected `{kw}`"),
            }),
        }
    }

    fn expect_op(&mut self, op: &str) -> PResult<Token> {
        let t = self.next()?;
        match &t.tok {
            Tok::Op(o) if *o == op => Ok(t),
            _ => Err(ParseError {
                line: t.line,
                message: format!("expected `{op}`"),
            }),
        }
    }

    fn parse_command(&mut self) -> PResult<Command> {
        self.enter()?;
        let r = self.parse_command_inner();
        self.leave();
        r
    }

    fn parse_command_inner(&mut self) -> PResult<Command> {
        let t = self.peek()?;
        let line = t.line;
        let start = t.start;
        let kind = match &t.tok {
            Tok::Op("(") => {
                self.next()?;
                let body = self.parse_compound_list()?;
                self.expect_op(")")?;
                CommandKind::Subshell(body)
            }
            Tok::Word(w) if w.is_keyword("{") => {
                self.next()?;
                let body = self.parse_compound_list()?;
                self.expect_keyword("}")?;
                CommandKind::Group(body)
            }
            Tok::Word(w)
                if [
                    "then", "else", "elif", "fi", "do", "done", "esac", "}", "in",
                ]
                .iter()
                .any(|k| w.is_keyword(k)) =>
            {
                return self.unexpected(&t);
            }
            Tok::Word(w) if w.is_keyword("if") => self.parse_if()?,
            Tok::Word(w) if w.is_keyword("while") || w.is_keyword("until") => {
                let until = w.is_keyword("until");
                self.next()?;
                let cond = self.parse_compound_list()?;
                self.expect_keyword("do")?;
                let body = self.parse_compound_list()?;
                self.expect_keyword("done")?;
                CommandKind::While { until, cond, body }
            }
            Tok::Word(w) if w.is_keyword("for") || w.is_keyword("select") => {
                let select = w.is_keyword("select");
                self.parse_for(select)?
            }
            Tok::Word(w) if w.is_keyword("case") => self.parse_case()?,
            Tok::Word(w) if w.is_keyword("function") => {
                self.next()?;
                let name = match self.next()?.tok {
                    Tok::Word(w) => w.literal().unwrap_or(w.raw),
                    _ => return self.err("expected a function name"),
                };
                if self.peek()?.tok == Tok::Op("(") {
                    self.next()?;
                    self.expect_op(")")?;
                }
                self.skip_newlines()?;
                let body = self.parse_command()?;
                CommandKind::FunctionDef {
                    name,
                    body: Box::new(body),
                }
            }
            Tok::Word(_)
            | Tok::IoNumber(_)
            | Tok::Op("<" | ">" | ">>" | "<<" | "<<-" | "<&")
            | Tok::Op(">&" | "<>" | ">|" | "&>" | "&>>" | "<<<") => {
                return self.parse_simple();
            }
            _ => return self.unexpected(&t),
        };
        let mut redirects = Vec::new();
        while let Some(r) = self.try_redirect()? {
            redirects.push(r);
        }
        Ok(Command {
            line,
            span: (self.base + start, self.base + self.last_end()),
            kind,
            redirects,
        })
    }

    fn last_end(&self) -> usize {
        self.prev_end
    }

    fn parse_if(&mut self) -> PResult<CommandKind> {
        self.next()?;
        let mut arms = Vec::new();
        let mut otherwise = None;
        loop {
            let cond = self.parse_compound_list()?;
            self.expect_keyword("then")?;
            let body = self.parse_compound_list()?;
            arms.push((cond, body));
            let t = self.next()?;
            match &t.tok {
                Tok::Word(w) if w.is_keyword("elif") => continue,
                Tok::Word(w) if w.is_keyword("else") => {
                    otherwise = Some(self.parse_compound_list()?);
                    self.expect_keyword("fi")?;
                    break;
                }
                Tok::Word(w) if w.is_keyword("fi") => break,
                _ => return self.unexpected(&t),
            }
        }
        Ok(CommandKind::If { arms, otherwise })
    }

    fn parse_for(&mut self, select: bool) -> PResult<CommandKind> {
        self.next()?;
        if self.peek()?.tok == Tok::Op("(") {
            // bash `for ((init; cond; step))`: skip to the body.
            let text = self.skip_balanced_parens()?;
            self.eat_separators()?;
            let _ = self.parse_do_group()?;
            return Ok(CommandKind::Unsupported(format!("for {text}")));
        }
        let var = match self.next()?.tok {
            Tok::Word(w) => w.literal().unwrap_or(w.raw),
            _ => return self.err("expected a loop variable"),
        };
        // Optional newlines, then `in words… ;` or directly `do`.
        self.skip_newlines()?;
        let mut words = None;
        if let Tok::Word(w) = &self.peek()?.tok {
            if w.is_keyword("in") {
                self.next()?;
                let mut ws = Vec::new();
                loop {
                    let t = self.peek()?;
                    match t.tok {
                        Tok::Word(w) => {
                            self.next()?;
                            ws.push(w);
                        }
                        _ => break,
                    }
                }
                words = Some(ws);
            }
        }
        self.eat_separators()?;
        let body = self.parse_do_group()?;
        if select {
            return Ok(CommandKind::Unsupported(format!("select {var}")));
        }
        Ok(CommandKind::For { var, words, body })
    }

    fn eat_separators(&mut self) -> PResult<()> {
        loop {
            match self.peek()?.tok {
                Tok::Op(";") | Tok::Newline => {
                    self.next()?;
                }
                _ => return Ok(()),
            }
        }
    }

    fn parse_do_group(&mut self) -> PResult<Program> {
        let t = self.next()?;
        match &t.tok {
            Tok::Word(w) if w.is_keyword("do") => {
                let body = self.parse_compound_list()?;
                self.expect_keyword("done")?;
                Ok(body)
            }
            Tok::Word(w) if w.is_keyword("{") => {
                let body = self.parse_compound_list()?;
                self.expect_keyword("}")?;
                Ok(body)
            }
            _ => self.unexpected(&t),
        }
    }

    /// Skips `(( … ))` at the lexer level (the next token is `(`), returns its text.
    fn skip_balanced_parens(&mut self) -> PResult<String> {
        let Some(t) = self.peeked.take() else {
            return self.err("expected `(`");
        };
        self.pos = t.start;
        self.line = t.line;
        let start = self.pos;
        let mut depth = 0usize;
        while let Some(&c) = self.src.get(self.pos) {
            self.pos += 1;
            match c {
                b'(' => depth += 1,
                b')' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        break;
                    }
                }
                b'\n' => self.line += 1,
                _ => {}
            }
        }
        self.prev_end = self.pos;
        Ok(String::from_utf8_lossy(self.src.get(start..self.pos).unwrap_or(&[])).into_owned())
    }

    fn parse_case(&mut self) -> PResult<CommandKind> {
        self.next()?;
        let word = match self.next()?.tok {
            Tok::Word(w) => w,
            _ => return self.err("expected a word after `case`"),
        };
        self.skip_newlines()?;
        self.expect_keyword("in")?;
        let mut items = Vec::new();
        loop {
            self.skip_newlines()?;
            let t = self.peek()?;
            match &t.tok {
                Tok::Word(w) if w.is_keyword("esac") => {
                    self.next()?;
                    break;
                }
                Tok::Op("(") => {
                    self.next()?;
                }
                _ => {}
            }
            let line = self.peek()?.line;
            let mut patterns = Vec::new();
            loop {
                let t = self.next()?;
                match t.tok {
                    Tok::Word(w) => patterns.push(w),
                    _ => return self.unexpected(&t),
                }
                let t = self.next()?;
                match t.tok {
                    Tok::Op("|") => continue,
                    Tok::Op(")") => break,
                    _ => return self.unexpected(&t),
                }
            }
            let body = self.parse_compound_list()?;
            let t = self.peek()?;
            let mut fallthrough = false;
            match &t.tok {
                Tok::Op(";;") | Tok::Op(";;&") => {
                    self.next()?;
                }
                Tok::Op(";&") => {
                    self.next()?;
                    fallthrough = true;
                }
                Tok::Word(w) if w.is_keyword("esac") => {}
                _ => return self.unexpected(&t),
            }
            items.push(CaseItem {
                line,
                patterns,
                body,
                fallthrough,
            });
        }
        Ok(CommandKind::Case { word, items })
    }

    fn try_redirect(&mut self) -> PResult<Option<Redirect>> {
        let t = self.peek()?;
        let fd = match t.tok {
            Tok::IoNumber(n) => {
                self.next()?;
                Some(n)
            }
            _ => None,
        };
        let t = self.peek()?;
        let op = match t.tok {
            Tok::Op(o)
                if matches!(
                    o,
                    "<" | ">"
                        | ">>"
                        | "<<"
                        | "<<-"
                        | "<&"
                        | ">&"
                        | "<>"
                        | ">|"
                        | "&>"
                        | "&>>"
                        | "<<<"
                ) =>
            {
                o
            }
            _ if fd.is_some() => return self.unexpected(&t),
            _ => return Ok(None),
        };
        self.next()?;
        let t = self.next()?;
        let target = match t.tok {
            Tok::Word(w) => w,
            _ => return self.unexpected(&t),
        };
        Ok(Some(Redirect {
            fd,
            op: op.to_owned(),
            target,
        }))
    }

    fn parse_simple(&mut self) -> PResult<Command> {
        let first = self.peek()?;
        let line = first.line;
        let start = first.start;
        let mut sc = SimpleCommand::default();
        loop {
            if let Some(r) = self.try_redirect()? {
                sc.redirects.push(r);
                continue;
            }
            let t = self.peek()?;
            let Tok::Word(w) = t.tok else { break };
            self.next()?;
            if sc.words.is_empty() {
                if let Some((name, value)) = split_assignment(&w) {
                    // `a=(1 2 3)`: a bash array; skip its elements.
                    if value.parts.is_empty() && self.peek()?.tok == Tok::Op("(") {
                        let text = self.skip_balanced_parens()?;
                        sc.assigns.push((
                            name,
                            Word {
                                parts: vec![Part::Lit {
                                    text: text.clone(),
                                    quoted: true,
                                }],
                                raw: text,
                            },
                        ));
                        continue;
                    }
                    sc.assigns.push((name, value));
                    continue;
                }
                if w.is_keyword("[[") {
                    sc.words.push(w);
                    self.read_double_bracket(&mut sc.words)?;
                    continue;
                }
                // `name() compound`
                if sc.assigns.is_empty() && self.peek()?.tok == Tok::Op("(") {
                    if let Some(name) = w.literal() {
                        self.next()?;
                        self.expect_op(")")?;
                        self.skip_newlines()?;
                        let body = self.parse_command()?;
                        return Ok(Command {
                            line,
                            span: (self.base + start, self.base + self.last_end()),
                            kind: CommandKind::FunctionDef {
                                name,
                                body: Box::new(body),
                            },
                            redirects: Vec::new(),
                        });
                    }
                }
            }
            sc.words.push(w);
        }
        if sc.words.is_empty() && sc.assigns.is_empty() && sc.redirects.is_empty() {
            let t = self.peek()?;
            return self.unexpected(&t);
        }
        Ok(Command {
            line,
            span: (self.base + start, self.base + self.last_end()),
            kind: CommandKind::Simple(sc),
            redirects: Vec::new(),
        })
    }

    /// `[[ … ]]`: operators inside become literal words, up to `]]`.
    fn read_double_bracket(&mut self, words: &mut Vec<Word>) -> PResult<()> {
        loop {
            let t = self.next()?;
            match t.tok {
                Tok::Word(w) => {
                    let end = w.is_keyword("]]");
                    words.push(w);
                    if end {
                        return Ok(());
                    }
                }
                Tok::Op(o) => words.push(Word {
                    parts: vec![Part::Lit {
                        text: o.to_owned(),
                        quoted: false,
                    }],
                    raw: o.to_owned(),
                }),
                Tok::IoNumber(n) => words.push(Word {
                    parts: vec![Part::Lit {
                        text: n.to_string(),
                        quoted: false,
                    }],
                    raw: n.to_string(),
                }),
                Tok::Newline => {}
                Tok::Eof => return self.err("unterminated `[[`"),
            }
        }
    }

    // ---- lexer ----

    fn peek(&mut self) -> PResult<Token> {
        if let Some(t) = &self.peeked {
            return Ok(t.clone());
        }
        let t = self.lex()?;
        self.peeked = Some(t.clone());
        Ok(t)
    }

    fn next(&mut self) -> PResult<Token> {
        let t = match self.peeked.take() {
            Some(t) => t,
            None => self.lex()?,
        };
        self.prev_end = t.end;
        Ok(t)
    }

    fn byte(&self, off: usize) -> Option<u8> {
        self.src.get(self.pos + off).copied()
    }

    fn lex(&mut self) -> PResult<Token> {
        self.tokens += 1;
        if self.tokens > MAX_TOKENS {
            return self.err(format!("more than {MAX_TOKENS} tokens"));
        }
        // Blanks, comments and line continuations.
        loop {
            match self.byte(0) {
                Some(b' ' | b'\t' | b'\r') => self.pos += 1,
                Some(b'\\') if self.byte(1) == Some(b'\n') => {
                    self.pos += 2;
                    self.line += 1;
                }
                Some(b'#') => {
                    while let Some(c) = self.byte(0) {
                        if c == b'\n' {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
        let start = self.pos;
        let line = self.line;
        let Some(c) = self.byte(0) else {
            return Ok(Token {
                tok: Tok::Eof,
                line,
                start,
                end: start,
            });
        };
        if c == b'\n' {
            self.pos += 1;
            self.line += 1;
            self.read_heredoc_bodies();
            return Ok(Token {
                tok: Tok::Newline,
                line,
                start,
                end: start + 1,
            });
        }
        // bash process substitution `<(…)` / `>(…)`: a word holding a command substitution.
        if matches!(c, b'<' | b'>') && self.byte(1) == Some(b'(') {
            self.pos += 2;
            let program = self.parse_subst_body()?;
            let raw =
                String::from_utf8_lossy(self.src.get(start..self.pos).unwrap_or(&[])).into_owned();
            return Ok(Token {
                tok: Tok::Word(Word {
                    parts: vec![Part::CmdSubst {
                        program,
                        quoted: false,
                    }],
                    raw,
                }),
                line,
                start,
                end: self.pos,
            });
        }
        for op in OPERATORS {
            if self
                .src
                .get(self.pos..)
                .is_some_and(|s| s.starts_with(op.as_bytes()))
            {
                self.pos += op.len();
                if *op == "<<" || *op == "<<-" {
                    self.want_delim = Some(*op == "<<-");
                }
                return Ok(Token {
                    tok: Tok::Op(op),
                    line,
                    start,
                    end: self.pos,
                });
            }
        }
        // IO number: digits directly followed by < or >.
        let mut n = 0;
        while self.byte(n).is_some_and(|b| b.is_ascii_digit()) {
            n += 1;
        }
        if n > 0 && n < 10 && matches!(self.byte(n), Some(b'<' | b'>')) {
            let text =
                String::from_utf8_lossy(self.src.get(start..start + n).unwrap_or(&[])).into_owned();
            self.pos += n;
            return Ok(Token {
                tok: Tok::IoNumber(text.parse().unwrap_or(0)),
                line,
                start,
                end: self.pos,
            });
        }
        let parts = self.lex_word(Mode::Normal, false)?;
        let raw =
            String::from_utf8_lossy(self.src.get(start..self.pos).unwrap_or(&[])).into_owned();
        let word = Word { parts, raw };
        if let Some(strip_tabs) = self.want_delim.take() {
            // A here-doc delimiter: quote removal only.
            let delim: String = word
                .parts
                .iter()
                .map(|p| match p {
                    Part::Lit { text, .. } => text.clone(),
                    _ => String::new(),
                })
                .collect();
            let delim = if word.parts.iter().all(|p| matches!(p, Part::Lit { .. })) {
                delim
            } else {
                word.raw.clone()
            };
            self.heredocs.push(PendingHeredoc { delim, strip_tabs });
        }
        Ok(Token {
            tok: Tok::Word(word),
            line,
            start,
            end: self.pos,
        })
    }

    /// After a newline: skips the bodies of the here-docs opened on the line just ended.
    fn read_heredoc_bodies(&mut self) {
        let pending = std::mem::take(&mut self.heredocs);
        for h in pending {
            loop {
                if self.pos >= self.src.len() {
                    return;
                }
                let line_start = self.pos;
                while let Some(c) = self.byte(0) {
                    if c == b'\n' {
                        break;
                    }
                    self.pos += 1;
                }
                let mut text = self.src.get(line_start..self.pos).unwrap_or(&[]);
                if self.byte(0) == Some(b'\n') {
                    self.pos += 1;
                }
                self.line += 1;
                if h.strip_tabs {
                    while let Some((b'\t', rest)) = text.split_first() {
                        text = rest;
                    }
                }
                if let Some(t) = text.strip_suffix(b"\r") {
                    text = t;
                }
                if text == h.delim.as_bytes() {
                    break;
                }
            }
        }
    }

    /// Lexes the parts of one word from `self.pos`.
    fn lex_word(&mut self, mode: Mode, in_dquote_brace: bool) -> PResult<Vec<Part>> {
        self.enter()?;
        let r = self.lex_word_inner(mode, in_dquote_brace);
        self.leave();
        r
    }

    fn lex_word_inner(&mut self, mode: Mode, in_dquote: bool) -> PResult<Vec<Part>> {
        let mut parts: Vec<Part> = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        // Flush the pending unquoted literal bytes.
        fn flush(parts: &mut Vec<Part>, buf: &mut Vec<u8>, quoted: bool) {
            if !buf.is_empty() {
                let text = String::from_utf8_lossy(buf).into_owned();
                buf.clear();
                push_lit(parts, text, quoted);
            }
        }
        while let Some(c) = self.byte(0) {
            match mode {
                Mode::Normal => {
                    if matches!(
                        c,
                        b' ' | b'\t'
                            | b'\r'
                            | b'\n'
                            | b';'
                            | b'&'
                            | b'|'
                            | b'<'
                            | b'>'
                            | b'('
                            | b')'
                    ) {
                        break;
                    }
                }
                Mode::Brace => {
                    if c == b'}' {
                        break;
                    }
                }
            }
            match c {
                b'\\' => match self.byte(1) {
                    Some(b'\n') => {
                        self.pos += 2;
                        self.line += 1;
                    }
                    Some(n) => {
                        flush(&mut parts, &mut buf, in_dquote);
                        self.pos += 1;
                        let ch = self.take_char();
                        if in_dquote && !matches!(n, b'$' | b'`' | b'"' | b'\\' | b'}') {
                            push_lit(&mut parts, format!("\\{ch}"), true);
                        } else {
                            push_lit(&mut parts, ch.to_string(), true);
                        }
                    }
                    None => {
                        self.pos += 1;
                        buf.push(b'\\');
                    }
                },
                b'\'' if !in_dquote => {
                    flush(&mut parts, &mut buf, false);
                    self.pos += 1;
                    let start = self.pos;
                    loop {
                        match self.byte(0) {
                            None => return self.err("unterminated single quote"),
                            Some(b'\'') => break,
                            Some(b'\n') => {
                                self.line += 1;
                                self.pos += 1;
                            }
                            Some(_) => self.pos += 1,
                        }
                    }
                    let text =
                        String::from_utf8_lossy(self.src.get(start..self.pos).unwrap_or(&[]))
                            .into_owned();
                    self.pos += 1;
                    push_lit(&mut parts, text, true);
                }
                b'"' if !in_dquote || mode == Mode::Brace => {
                    flush(&mut parts, &mut buf, in_dquote);
                    self.pos += 1;
                    let inner = self.lex_dquote()?;
                    if inner.is_empty() {
                        push_lit(&mut parts, String::new(), true);
                    }
                    for p in inner {
                        match p {
                            Part::Lit { text, quoted } => push_lit(&mut parts, text, quoted),
                            other => parts.push(other),
                        }
                    }
                }
                b'$' => {
                    flush(&mut parts, &mut buf, in_dquote);
                    if let Some(p) = self.lex_dollar(in_dquote)? {
                        match p {
                            Part::Lit { text, quoted } => push_lit(&mut parts, text, quoted),
                            other => parts.push(other),
                        }
                    }
                }
                b'`' => {
                    flush(&mut parts, &mut buf, in_dquote);
                    parts.push(self.lex_backtick(in_dquote)?);
                }
                b'\n' => {
                    self.line += 1;
                    self.pos += 1;
                    buf.push(c);
                }
                _ => {
                    self.pos += 1;
                    buf.push(c);
                }
            }
        }
        flush(&mut parts, &mut buf, in_dquote);
        Ok(parts)
    }

    /// One (possibly multibyte) character at `self.pos`, consumed.
    fn take_char(&mut self) -> char {
        let rest = self.src.get(self.pos..).unwrap_or(&[]);
        let len = match rest.first() {
            Some(&b) if b < 0x80 => 1,
            Some(&b) if b >= 0xF0 => 4,
            Some(&b) if b >= 0xE0 => 3,
            Some(&b) if b >= 0xC0 => 2,
            _ => 1,
        };
        let bytes = rest.get(..len).unwrap_or(rest);
        self.pos += bytes.len().max(1);
        if bytes == b"\n" {
            self.line += 1;
        }
        std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| s.chars().next())
            .unwrap_or('\u{FFFD}')
    }

    /// The inside of `"…"` (the opening quote consumed).
    fn lex_dquote(&mut self) -> PResult<Vec<Part>> {
        let mut parts = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        loop {
            let Some(c) = self.byte(0) else {
                return self.err("unterminated double quote");
            };
            match c {
                b'"' => {
                    self.pos += 1;
                    break;
                }
                b'\\' => match self.byte(1) {
                    Some(b'\n') => {
                        self.pos += 2;
                        self.line += 1;
                    }
                    Some(b'$' | b'`' | b'"' | b'\\') => {
                        if let Some(&b) = self.src.get(self.pos + 1) {
                            buf.push(b);
                        }
                        self.pos += 2;
                    }
                    _ => {
                        buf.push(b'\\');
                        self.pos += 1;
                    }
                },
                b'$' => {
                    if !buf.is_empty() {
                        push_lit(&mut parts, String::from_utf8_lossy(&buf).into_owned(), true);
                        buf.clear();
                    }
                    if let Some(p) = self.lex_dollar(true)? {
                        match p {
                            Part::Lit { text, quoted } => push_lit(&mut parts, text, quoted),
                            other => parts.push(other),
                        }
                    }
                }
                b'`' => {
                    if !buf.is_empty() {
                        push_lit(&mut parts, String::from_utf8_lossy(&buf).into_owned(), true);
                        buf.clear();
                    }
                    parts.push(self.lex_backtick(true)?);
                }
                b'\n' => {
                    self.line += 1;
                    self.pos += 1;
                    buf.push(c);
                }
                _ => {
                    self.pos += 1;
                    buf.push(c);
                }
            }
        }
        if !buf.is_empty() {
            push_lit(&mut parts, String::from_utf8_lossy(&buf).into_owned(), true);
        }
        Ok(parts)
    }

    /// `$…` at `self.pos`.
    fn lex_dollar(&mut self, quoted: bool) -> PResult<Option<Part>> {
        match self.byte(1) {
            Some(b'(') if self.byte(2) == Some(b'(') => {
                self.pos += 3;
                let start = self.pos;
                let mut depth = 2usize;
                loop {
                    match self.byte(0) {
                        None => return self.err("unterminated arithmetic expansion"),
                        Some(b'(') => depth += 1,
                        Some(b')') => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        Some(b'\n') => self.line += 1,
                        Some(_) => {}
                    }
                    self.pos += 1;
                }
                let end = self.pos.saturating_sub(1).max(start);
                let text =
                    String::from_utf8_lossy(self.src.get(start..end).unwrap_or(&[])).into_owned();
                self.pos += 1;
                Ok(Some(Part::Arith { text, quoted }))
            }
            Some(b'(') => {
                self.pos += 2;
                let program = self.parse_subst_body()?;
                Ok(Some(Part::CmdSubst { program, quoted }))
            }
            Some(b'{') => {
                self.pos += 2;
                Ok(Some(self.lex_brace_param(quoted)?))
            }
            Some(b'\'') if !quoted => {
                self.pos += 2;
                Ok(Some(Part::Lit {
                    text: self.lex_ansi_c()?,
                    quoted: true,
                }))
            }
            Some(b'"') if !quoted => {
                // $"…" (locale translation): a double-quoted string.
                self.pos += 1;
                Ok(None)
            }
            Some(c)
                if c.is_ascii_digit()
                    || matches!(c, b'@' | b'*' | b'#' | b'?' | b'$' | b'!' | b'-') =>
            {
                self.pos += 2;
                Ok(Some(simple_param((c as char).to_string(), quoted)))
            }
            Some(c) if c == b'_' || c.is_ascii_alphabetic() => {
                self.pos += 1;
                let start = self.pos;
                while self
                    .byte(0)
                    .is_some_and(|b| b == b'_' || b.is_ascii_alphanumeric())
                {
                    self.pos += 1;
                }
                let name = String::from_utf8_lossy(self.src.get(start..self.pos).unwrap_or(&[]))
                    .into_owned();
                Ok(Some(simple_param(name, quoted)))
            }
            _ => {
                self.pos += 1;
                Ok(Some(Part::Lit {
                    text: "$".to_owned(),
                    quoted,
                }))
            }
        }
    }

    /// `$(` consumed: parses the command list up to the matching `)`.
    fn parse_subst_body(&mut self) -> PResult<Program> {
        self.enter()?;
        let saved_peek = self.peeked.take();
        let saved_delim = self.want_delim.take();
        let r = (|| {
            let body = self.parse_compound_list()?;
            self.expect_op(")")?;
            Ok(body)
        })();
        // Anything peeked inside belongs to the substitution; restore the outer lookahead state.
        self.peeked = saved_peek;
        self.want_delim = saved_delim;
        self.leave();
        r
    }

    /// A backtick substitution at `self.pos`.
    fn lex_backtick(&mut self, quoted: bool) -> PResult<Part> {
        self.pos += 1;
        let start_line = self.line;
        let mut inner: Vec<u8> = Vec::new();
        loop {
            match self.byte(0) {
                None => return self.err("unterminated backquote"),
                Some(b'`') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => {
                    match self.byte(1) {
                        Some(n @ (b'$' | b'`' | b'\\')) => inner.push(n),
                        Some(b'"') if quoted => inner.push(b'"'),
                        Some(n) => {
                            inner.push(b'\\');
                            inner.push(n);
                        }
                        None => inner.push(b'\\'),
                    }
                    if self.byte(1) == Some(b'\n') {
                        self.line += 1;
                    }
                    self.pos += 2;
                }
                Some(c) => {
                    if c == b'\n' {
                        self.line += 1;
                    }
                    inner.push(c);
                    self.pos += 1;
                }
            }
        }
        self.enter()?;
        let mut sub = Parser::new(&inner, self.base, start_line);
        sub.depth = self.depth;
        sub.tokens = self.tokens;
        let parsed = sub.parse_top();
        self.tokens = sub.tokens;
        self.leave();
        if let Some(e) = parsed.error {
            return Err(e);
        }
        Ok(Part::CmdSubst {
            program: parsed.program,
            quoted,
        })
    }

    /// `$'…'` (the `$'` consumed).
    fn lex_ansi_c(&mut self) -> PResult<String> {
        let mut out = String::new();
        loop {
            let Some(c) = self.byte(0) else {
                return self.err("unterminated $'…'");
            };
            match c {
                b'\'' => {
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => {
                    self.pos += 1;
                    let Some(e) = self.byte(0) else { continue };
                    self.pos += 1;
                    match e {
                        b'n' => out.push('\n'),
                        b't' => out.push('\t'),
                        b'r' => out.push('\r'),
                        b'a' => out.push('\u{7}'),
                        b'b' => out.push('\u{8}'),
                        b'e' | b'E' => out.push('\u{1b}'),
                        b'f' => out.push('\u{c}'),
                        b'v' => out.push('\u{b}'),
                        b'0'..=b'7' => {
                            let mut v = u32::from(e - b'0');
                            for _ in 0..2 {
                                match self.byte(0) {
                                    Some(d @ b'0'..=b'7') => {
                                        v = v * 8 + u32::from(d - b'0');
                                        self.pos += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push(char::from_u32(v).unwrap_or('\u{FFFD}'));
                        }
                        b'x' => {
                            let mut v = 0u32;
                            for _ in 0..2 {
                                match self.byte(0).and_then(|d| (d as char).to_digit(16)) {
                                    Some(d) => {
                                        v = v * 16 + d;
                                        self.pos += 1;
                                    }
                                    None => break,
                                }
                            }
                            out.push(char::from_u32(v).unwrap_or('\u{FFFD}'));
                        }
                        b'\n' => {
                            self.line += 1;
                            out.push('\n');
                        }
                        other => out.push(other as char),
                    }
                }
                _ => {
                    let ch = self.take_char();
                    out.push(ch);
                }
            }
        }
    }

    /// `${` consumed: the parameter, operator and word, up to `}`.
    fn lex_brace_param(&mut self, quoted: bool) -> PResult<Part> {
        let mut indirect = false;
        let mut length = false;
        // `${#}` is the count; `${#x}` is a length.
        if self.byte(0) == Some(b'#') && !matches!(self.byte(1), Some(b'}') | None) {
            length = true;
            self.pos += 1;
        } else if self.byte(0) == Some(b'!') && !matches!(self.byte(1), Some(b'}') | None) {
            indirect = true;
            self.pos += 1;
        }
        let start = self.pos;
        match self.byte(0) {
            Some(c) if c == b'_' || c.is_ascii_alphabetic() => {
                while self
                    .byte(0)
                    .is_some_and(|b| b == b'_' || b.is_ascii_alphanumeric())
                {
                    self.pos += 1;
                }
            }
            Some(c) if c.is_ascii_digit() => {
                while self.byte(0).is_some_and(|b| b.is_ascii_digit()) {
                    self.pos += 1;
                }
            }
            Some(b'@' | b'*' | b'#' | b'?' | b'$' | b'!' | b'-') => self.pos += 1,
            _ => return self.err("bad substitution"),
        }
        let name =
            String::from_utf8_lossy(self.src.get(start..self.pos).unwrap_or(&[])).into_owned();
        let mut index = None;
        if self.byte(0) == Some(b'[') {
            self.pos += 1;
            let s = self.pos;
            let mut depth = 1usize;
            loop {
                match self.byte(0) {
                    None => return self.err("unterminated subscript"),
                    Some(b'[') => depth += 1,
                    Some(b']') => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    Some(b'\n') => self.line += 1,
                    _ => {}
                }
                self.pos += 1;
            }
            index = Some(
                String::from_utf8_lossy(self.src.get(s..self.pos).unwrap_or(&[])).into_owned(),
            );
            self.pos += 1;
        }
        let rest = self.src.get(self.pos..).unwrap_or(&[]);
        let (op, len) = if length {
            (ParamOp::Length, 0)
        } else if rest.starts_with(b":-") {
            (ParamOp::Default(true), 2)
        } else if rest.starts_with(b":=") {
            (ParamOp::Assign(true), 2)
        } else if rest.starts_with(b":?") {
            (ParamOp::Error(true), 2)
        } else if rest.starts_with(b":+") {
            (ParamOp::Alt(true), 2)
        } else if rest.starts_with(b":") {
            (ParamOp::Substring, 1)
        } else if rest.starts_with(b"-") {
            (ParamOp::Default(false), 1)
        } else if rest.starts_with(b"=") {
            (ParamOp::Assign(false), 1)
        } else if rest.starts_with(b"?") {
            (ParamOp::Error(false), 1)
        } else if rest.starts_with(b"+") {
            (ParamOp::Alt(false), 1)
        } else if rest.starts_with(b"##") {
            (ParamOp::RemoveLongPrefix, 2)
        } else if rest.starts_with(b"#") {
            (ParamOp::RemovePrefix, 1)
        } else if rest.starts_with(b"%%") {
            (ParamOp::RemoveLongSuffix, 2)
        } else if rest.starts_with(b"%") {
            (ParamOp::RemoveSuffix, 1)
        } else if rest.starts_with(b"/") {
            (ParamOp::Replace, 1)
        } else if rest.starts_with(b"^^") || rest.starts_with(b",,") {
            let op = if rest.starts_with(b"^") {
                ParamOp::Upper
            } else {
                ParamOp::Lower
            };
            (op, 2)
        } else if rest.starts_with(b"^") || rest.starts_with(b",") {
            let op = if rest.starts_with(b"^") {
                ParamOp::Upper
            } else {
                ParamOp::Lower
            };
            (op, 1)
        } else if rest.starts_with(b"}") {
            (ParamOp::Plain, 0)
        } else if rest.starts_with(b"@") {
            // `${x@Q}` and friends: not evaluated.
            (ParamOp::Replace, 1)
        } else {
            return self.err("bad substitution");
        };
        self.pos += len;
        let arg = if matches!(op, ParamOp::Plain | ParamOp::Length) {
            None
        } else {
            let s = self.pos;
            let parts = self.lex_word(Mode::Brace, quoted)?;
            let raw =
                String::from_utf8_lossy(self.src.get(s..self.pos).unwrap_or(&[])).into_owned();
            Some(Word { parts, raw })
        };
        if self.byte(0) != Some(b'}') {
            return self.err("unterminated ${…}");
        }
        self.pos += 1;
        Ok(Part::Param(Box::new(Param {
            name,
            index,
            indirect,
            op,
            arg,
            quoted,
        })))
    }
}

fn simple_param(name: String, quoted: bool) -> Part {
    Part::Param(Box::new(Param {
        name,
        index: None,
        indirect: false,
        op: ParamOp::Plain,
        arg: None,
        quoted,
    }))
}

/// Appends literal text, merging with a previous literal of the same quoting.
fn push_lit(parts: &mut Vec<Part>, text: String, quoted: bool) {
    if let Some(Part::Lit {
        text: prev,
        quoted: q,
    }) = parts.last_mut()
    {
        if *q == quoted && !(quoted && text.is_empty()) && !prev.is_empty() {
            prev.push_str(&text);
            return;
        }
    }
    parts.push(Part::Lit { text, quoted });
}

#[cfg(test)]
mod tests;
