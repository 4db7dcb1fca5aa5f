//! The symbolic shell walker: runs a parsed script over abstract state (known or unknown values),
//! forking on what cannot be decided, and collects the program each path hands control to.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use super::shell::{
    self, AndOr, CaseItem, Command, CommandKind, Connector, Param, ParamOp, Part, Pipeline,
    Program, SimpleCommand, Word,
};
use super::{abs_path, Arg, Launcher, Proc, Step, Terminal, Tracer};

/// Most commands walked in one trace (all scripts and paths together).
pub(crate) const MAX_WORK: usize = 10_000;
/// Deepest nesting of commands being walked (compound commands inside function calls).
const MAX_NEST: usize = 128;
/// Most live paths through a script.
const MAX_STATES: usize = 16;
/// Most function/source frames.
const MAX_CALL_DEPTH: usize = 32;
/// Most loop iterations walked.
const MAX_LOOP: usize = 32;
/// Longest value pattern operators work on.
const MAX_VALUE: usize = 4096;

type Val = Option<String>;

/// Exit status of the last command, as far as known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    True,
    False,
    Unknown,
    /// An external command: assumed to succeed in `&&`/`||`, unknown in `if`/`while`.
    External,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Transfer {
    /// The call frames (function calls, sources) and the command itself.
    path: Vec<Step>,
    argv: Vec<Arg>,
    proc: Proc,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Flow {
    Normal,
    Return,
    Break,
    Continue,
    Exit(bool),
    Exec(Box<Transfer>),
}

#[derive(Debug, Clone)]
struct Ctx {
    file: Rc<str>,
    src: Rc<[u8]>,
}

#[derive(Debug)]
struct Func {
    body: Command,
    ctx: Ctx,
}

#[derive(Debug, Clone)]
struct St {
    vars: BTreeMap<String, Val>,
    exported: BTreeSet<String>,
    pos: Vec<Arg>,
    pos_unknown: bool,
    dollar0: String,
    cwd: Option<String>,
    funcs: BTreeMap<String, Rc<Func>>,
    /// Function names (and `source`) on the call stack, innermost last.
    funcstack: Vec<String>,
    frames: Vec<Step>,
    candidate: Option<Box<Transfer>>,
    flow: Flow,
    status: Status,
    cond_depth: usize,
}

impl St {
    fn same(&self, o: &St) -> bool {
        self.flow == Flow::Normal
            && o.flow == Flow::Normal
            && self.status == o.status
            && self.vars == o.vars
            && self.exported == o.exported
            && self.pos == o.pos
            && self.pos_unknown == o.pos_unknown
            && self.cwd == o.cwd
            && self.funcs.keys().eq(o.funcs.keys())
            && self.funcstack == o.funcstack
            && self.frames == o.frames
            && self.cond_depth == o.cond_depth
    }

    fn get(&self, name: &str) -> Option<&Val> {
        self.vars.get(name)
    }

    fn set(&mut self, name: &str, v: Val) {
        self.vars.insert(name.to_owned(), v);
    }

    fn proc(&self) -> Proc {
        let env = self
            .vars
            .iter()
            .filter(|(k, _)| self.exported.contains(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Proc {
            env,
            cwd: self.cwd.clone().unwrap_or_else(|| "/".to_owned()),
        }
    }
}

const BUILTINS: &[&str] = &[
    "echo",
    "printf",
    "read",
    "wait",
    "trap",
    "umask",
    "ulimit",
    "alias",
    "unalias",
    "getopts",
    "type",
    "hash",
    "let",
    "shopt",
    "pushd",
    "popd",
    "dirs",
    "mapfile",
    "readarray",
    "jobs",
    "fg",
    "bg",
    "kill",
    "times",
    "enable",
    "help",
    "history",
    "caller",
    "compgen",
    "complete",
    "disown",
    "suspend",
    "logout",
    "bind",
    "builtin",
    "pwd",
    "sleep_builtin",
];

impl Tracer<'_> {
    /// `sh [options] script args…`, `sh -c 'string' [name args…]`.
    pub(crate) fn run_shell(&mut self, argv: &[Arg], shell_real: &str, proc: Proc, depth: usize) {
        let mut i = 1;
        let mut cmd_mode = false;
        while let Some(a) = argv.get(i) {
            let Some(s) = a.val.as_deref() else { break };
            if s == "--" || s == "-" {
                i += 1;
                break;
            }
            if let Some(long) = s.strip_prefix("--") {
                i += if matches!(long, "rcfile" | "init-file") {
                    2
                } else {
                    1
                };
                continue;
            }
            if (s.starts_with('-') || s.starts_with('+')) && s.len() > 1 {
                let mut takes = 0;
                for ch in s.chars().skip(1) {
                    match ch {
                        'c' => cmd_mode = true,
                        'o' | 'O' => takes += 1,
                        _ => {}
                    }
                }
                i += 1 + takes;
                continue;
            }
            break;
        }
        let rest = argv.get(i..).unwrap_or(&[]);
        let shell_terminal = |t: &mut Self| {
            t.push_terminal(Terminal {
                program: shell_real.to_owned(),
                argv: argv.iter().map(|a| a.show().to_owned()).collect(),
                launcher: Launcher::Shell,
            });
        };
        if cmd_mode {
            let Some(first) = rest.first() else {
                self.diag(format!("/{shell_real} -c without a command string"));
                return;
            };
            let Some(cmd) = first.val.clone() else {
                self.diag(format!(
                    "/{shell_real} -c `{}`: command not known statically",
                    first.raw
                ));
                shell_terminal(self);
                return;
            };
            let dollar0 = rest
                .get(1)
                .map(|a| a.show().to_owned())
                .unwrap_or_else(|| basename_of(shell_real).to_owned());
            let pos = rest.get(2..).unwrap_or(&[]).to_vec();
            let file = format!("/{shell_real}");
            if !self.walk_source(cmd.into_bytes(), file, dollar0, pos, proc, depth) {
                shell_terminal(self);
            }
            return;
        }
        let Some(script) = rest.first() else {
            shell_terminal(self);
            return;
        };
        let Some(script_path) = script.val.clone() else {
            self.diag(format!(
                "shell script not known statically: `{}`",
                script.raw
            ));
            shell_terminal(self);
            return;
        };
        let mut found = self.stat(&abs_path(&proc.cwd, &script_path));
        if found.is_none() && !script_path.contains('/') {
            found = self.resolve(&script_path, &proc).map(|f| (f.real, f.mode));
        }
        let Some((real, _)) = found else {
            self.diag(format!("{script_path}: script not found in the image"));
            shell_terminal(self);
            return;
        };
        let pos = rest.get(1..).unwrap_or(&[]).to_vec();
        if !self.visited.insert((real.clone(), pos.clone())) {
            self.diag(format!(
                "/{real} runs itself again with the same arguments; not followed twice"
            ));
            return;
        }
        let Some(src) = self.fs.read(&real) else {
            self.diag(format!("/{real}: script content not available"));
            shell_terminal(self);
            return;
        };
        if !self.walk_source(src, format!("/{real}"), script_path, pos, proc, depth) {
            shell_terminal(self);
        }
    }

    /// Walks a script; follows each path's transfer. False when no path hands control anywhere.
    fn walk_source(
        &mut self,
        src: Vec<u8>,
        file: String,
        dollar0: String,
        pos: Vec<Arg>,
        proc: Proc,
        depth: usize,
    ) -> bool {
        let parsed = shell::parse(&src);
        if let Some(e) = &parsed.error {
            self.diag(format!("{file}:{}: {}", e.line, e.message));
        }
        let mut exported = BTreeSet::new();
        let mut vars = BTreeMap::new();
        for (k, v) in &proc.env {
            exported.insert(k.clone());
            vars.insert(k.clone(), v.clone());
        }
        // The kernel-provided environment always has PATH (Docker sets the default one).
        if !vars.contains_key("PATH") {
            vars.insert("PATH".to_owned(), Some(super::DEFAULT_PATH.to_owned()));
        }
        exported.insert("PATH".to_owned());
        vars.insert("BASH_SOURCE".to_owned(), Some(dollar0.clone()));
        vars.insert("PWD".to_owned(), Some(proc.cwd.clone()));
        vars.entry("IFS".to_owned())
            .or_insert(Some(" \t\n".to_owned()));
        let st = St {
            vars,
            exported,
            pos,
            pos_unknown: false,
            dollar0,
            cwd: Some(proc.cwd.clone()),
            funcs: BTreeMap::new(),
            funcstack: Vec::new(),
            frames: Vec::new(),
            candidate: None,
            flow: Flow::Normal,
            status: Status::True,
            cond_depth: 0,
        };
        let ctx = Ctx {
            file: Rc::from(file.as_str()),
            src: Rc::from(src),
        };
        let states = self.walk_program(vec![st], &parsed.program, &ctx);
        let mut any = false;
        let mut transfers: Vec<Transfer> = Vec::new();
        for s in states {
            let t = match s.flow {
                Flow::Exec(t) => Some(*t),
                Flow::Exit(false) => None,
                _ => s.candidate.map(|c| *c),
            };
            if let Some(t) = t {
                if !transfers.contains(&t) {
                    transfers.push(t);
                }
            }
        }
        for t in transfers {
            if let Some(Arg { val: None, raw }) = t.argv.first() {
                let at = t
                    .path
                    .last()
                    .map(|s| format!("{}:{}", s.file, s.line))
                    .unwrap_or_default();
                self.diag(format!("{at}: program `{raw}` not known statically"));
                continue;
            }
            any = true;
            for step in t.path {
                self.push_step(step);
            }
            self.exec(t.argv, t.proc, depth + 1);
        }
        if !any {
            self.diag(format!("{file}: no path runs an external program"));
        }
        any
    }

    fn merge(&mut self, states: Vec<St>) -> Vec<St> {
        let mut out: Vec<St> = Vec::with_capacity(states.len());
        for s in states {
            if out.iter().any(|o| o.same(&s)) {
                continue;
            }
            out.push(s);
        }
        let live = out.iter().filter(|s| s.flow == Flow::Normal).count();
        if live > MAX_STATES {
            self.diag(format!(
                "more than {MAX_STATES} paths through a script; some dropped"
            ));
            let mut kept = 0;
            out.retain(|s| {
                if s.flow != Flow::Normal {
                    return true;
                }
                kept += 1;
                kept <= MAX_STATES
            });
        }
        if out.len() > 4 * MAX_STATES {
            out.truncate(4 * MAX_STATES);
        }
        out
    }

    fn walk_program(&mut self, mut states: Vec<St>, prog: &Program, ctx: &Ctx) -> Vec<St> {
        for ao in &prog.items {
            let mut next = Vec::new();
            for st in states {
                if st.flow != Flow::Normal {
                    next.push(st);
                } else {
                    next.extend(self.walk_and_or(st, ao, ctx));
                }
            }
            states = self.merge(next);
        }
        states
    }

    fn walk_and_or(&mut self, mut st: St, ao: &AndOr, ctx: &Ctx) -> Vec<St> {
        if ao.background {
            // A background job runs in a subshell; it is the program when nothing runs after it
            // (`java -jar app.jar & PID=$!; wait $PID`).
            let cand = self.probe(&st, &ao.first, ctx);
            if st.cond_depth == 0 && cand.is_some() {
                st.candidate = cand;
            }
            st.status = Status::True;
            return vec![st];
        }
        let mut states = self.walk_pipeline(st, &ao.first, ctx);
        for (conn, pl) in &ao.rest {
            let mut next = Vec::new();
            for st in states {
                if st.flow != Flow::Normal {
                    next.push(st);
                    continue;
                }
                let ok = match st.status {
                    Status::True | Status::External => Some(true),
                    Status::False => Some(false),
                    Status::Unknown => None,
                };
                let run = ok.map(|ok| ok == (*conn == Connector::And));
                match run {
                    Some(true) => next.extend(self.walk_pipeline(st, pl, ctx)),
                    Some(false) => next.push(st),
                    None => {
                        let mut skip = st.clone();
                        skip.status = if *conn == Connector::And {
                            Status::False
                        } else {
                            Status::True
                        };
                        next.push(skip);
                        next.extend(self.walk_pipeline(st, pl, ctx));
                    }
                }
            }
            states = next;
        }
        states
    }

    fn walk_pipeline(&mut self, mut st: St, pl: &Pipeline, ctx: &Ctx) -> Vec<St> {
        let mut out = match pl.commands.as_slice() {
            [one] => self.walk_command(st, one, ctx),
            [_, _, ..] => {
                // Each part runs in a subshell: this shell waits for the pipeline, whose first
                // command is taken as the program (`node app.js | tee log`).
                let cand = self.probe(&st, pl, ctx);
                if st.cond_depth == 0 && cand.is_some() {
                    st.candidate = cand;
                }
                st.status = Status::External;
                vec![st]
            }
            [] => vec![st],
        };
        if pl.negated {
            for s in &mut out {
                s.status = match s.status {
                    Status::True => Status::False,
                    Status::False => Status::True,
                    _ => Status::Unknown,
                };
            }
        }
        out
    }

    /// The program the first command of `pl` runs in a subshell (state changes discarded).
    fn probe(&mut self, st: &St, pl: &Pipeline, ctx: &Ctx) -> Option<Box<Transfer>> {
        let first = pl.commands.first()?;
        let mut probe = st.clone();
        probe.candidate = None;
        self.walk_command(probe, first, ctx)
            .into_iter()
            .next()
            .and_then(|s| match s.flow {
                Flow::Exec(t) => Some(t),
                _ => s.candidate,
            })
    }

    fn walk_cond(&mut self, mut st: St, prog: &Program, ctx: &Ctx) -> Vec<St> {
        st.cond_depth += 1;
        let mut out = self.walk_program(vec![st], prog, ctx);
        for s in &mut out {
            s.cond_depth = s.cond_depth.saturating_sub(1);
        }
        out
    }

    fn walk_command(&mut self, mut st: St, cmd: &Command, ctx: &Ctx) -> Vec<St> {
        self.work += 1;
        if self.work > MAX_WORK {
            self.diag(format!("more than {MAX_WORK} commands walked; stopped"));
            st.flow = Flow::Exit(true);
            return vec![st];
        }
        if self.nest >= MAX_NEST {
            self.diag(format!(
                "{}:{}: commands nested deeper than {MAX_NEST}",
                ctx.file, cmd.line
            ));
            st.status = Status::Unknown;
            return vec![st];
        }
        self.nest += 1;
        let out = self.walk_command_inner(st, cmd, ctx);
        self.nest -= 1;
        out
    }

    fn walk_command_inner(&mut self, mut st: St, cmd: &Command, ctx: &Ctx) -> Vec<St> {
        match &cmd.kind {
            CommandKind::Simple(sc) => self.walk_simple(st, sc, cmd, ctx),
            CommandKind::Group(p) => self.walk_program(vec![st], p, ctx),
            CommandKind::Subshell(p) => {
                let outer = st.clone();
                let inner = self.walk_program(vec![st], p, ctx);
                inner
                    .into_iter()
                    .map(|s| {
                        let mut o = outer.clone();
                        o.status = s.status;
                        match s.flow {
                            Flow::Exec(t) if outer.cond_depth == 0 => o.candidate = Some(t),
                            _ if outer.cond_depth == 0 && s.candidate != outer.candidate => {
                                o.candidate = s.candidate
                            }
                            _ => {}
                        }
                        o
                    })
                    .collect()
            }
            CommandKind::If { arms, otherwise } => {
                let mut pending = vec![st];
                let mut out = Vec::new();
                for (cond, body) in arms {
                    let mut next_pending = Vec::new();
                    for s in pending {
                        for mut c in self.walk_cond(s, cond, ctx) {
                            if c.flow != Flow::Normal {
                                out.push(c);
                                continue;
                            }
                            match c.status {
                                Status::True => out.extend(self.walk_program(vec![c], body, ctx)),
                                Status::False => next_pending.push(c),
                                Status::Unknown | Status::External => {
                                    let mut f = c.clone();
                                    f.status = Status::False;
                                    next_pending.push(f);
                                    c.status = Status::True;
                                    out.extend(self.walk_program(vec![c], body, ctx));
                                }
                            }
                        }
                    }
                    pending = self.merge(next_pending);
                }
                for mut s in pending {
                    match otherwise {
                        Some(p) => out.extend(self.walk_program(vec![s], p, ctx)),
                        None => {
                            s.status = Status::True;
                            out.push(s);
                        }
                    }
                }
                self.merge(out)
            }
            CommandKind::While { until, cond, body } => {
                let mut running = vec![st];
                let mut out = Vec::new();
                for _ in 0..MAX_LOOP {
                    if running.is_empty() {
                        break;
                    }
                    let mut body_states = Vec::new();
                    for s in running {
                        for mut c in self.walk_cond(s, cond, ctx) {
                            if c.flow != Flow::Normal {
                                out.push(c);
                                continue;
                            }
                            let go = match c.status {
                                Status::True => !until,
                                Status::False => *until,
                                _ => false,
                            };
                            if go {
                                body_states.push(c);
                            } else {
                                c.status = Status::True;
                                out.push(c);
                            }
                        }
                    }
                    running = Vec::new();
                    for mut s in self.walk_program(body_states, body, ctx) {
                        match s.flow {
                            Flow::Break => {
                                s.flow = Flow::Normal;
                                out.push(s);
                            }
                            Flow::Continue | Flow::Normal => {
                                s.flow = Flow::Normal;
                                running.push(s);
                            }
                            _ => out.push(s),
                        }
                    }
                    running = self.merge(running);
                }
                out.extend(running);
                self.merge(out)
            }
            CommandKind::For { var, words, body } => {
                let items: Vec<Arg> = match words {
                    Some(ws) => {
                        let mut v = Vec::new();
                        for w in ws {
                            if has_glob(w) {
                                // Pathname expansion needs a directory listing: unknown items.
                                v.push(Arg {
                                    val: None,
                                    raw: w.raw.clone(),
                                });
                            } else {
                                v.extend(self.expand(&mut st, w, true));
                            }
                        }
                        v
                    }
                    None if st.pos_unknown => vec![Arg {
                        val: None,
                        raw: "$@".to_owned(),
                    }],
                    None => st.pos.clone(),
                };
                let mut running = vec![st];
                let mut out = Vec::new();
                for item in items.into_iter().take(MAX_LOOP) {
                    let mut body_states = Vec::new();
                    for mut s in running {
                        s.set(var, item.val.clone());
                        body_states.push(s);
                    }
                    running = Vec::new();
                    for mut s in self.walk_program(body_states, body, ctx) {
                        match s.flow {
                            Flow::Break => {
                                s.flow = Flow::Normal;
                                out.push(s);
                            }
                            Flow::Continue | Flow::Normal => {
                                s.flow = Flow::Normal;
                                running.push(s);
                            }
                            _ => out.push(s),
                        }
                    }
                    running = self.merge(running);
                    if running.is_empty() {
                        break;
                    }
                }
                out.extend(running);
                self.merge(out)
            }
            CommandKind::Case { word, items } => self.walk_case(st, word, items, ctx),
            CommandKind::FunctionDef { name, body } => {
                st.funcs.insert(
                    name.clone(),
                    Rc::new(Func {
                        body: (**body).clone(),
                        ctx: ctx.clone(),
                    }),
                );
                st.status = Status::True;
                vec![st]
            }
            CommandKind::Unsupported(_) => {
                st.status = Status::Unknown;
                vec![st]
            }
        }
    }

    fn walk_case(&mut self, mut st: St, word: &Word, items: &[CaseItem], ctx: &Ctx) -> Vec<St> {
        let subject = self.expand_str(&mut st, word);
        let mut out = Vec::new();
        let mut searching = vec![st];
        let mut idx = 0;
        while let Some(item) = items.get(idx) {
            let mut next = Vec::new();
            for mut s in searching {
                let m = self.case_match(&mut s, subject.as_deref(), &item.patterns);
                match m {
                    Some(true) => out.extend(self.run_case_body(s, items, idx, ctx)),
                    Some(false) => next.push(s),
                    None => {
                        next.push(s.clone());
                        out.extend(self.run_case_body(s, items, idx, ctx));
                    }
                }
            }
            searching = self.merge(next);
            idx += 1;
        }
        for mut s in searching {
            s.status = Status::True;
            out.push(s);
        }
        self.merge(out)
    }

    fn run_case_body(&mut self, st: St, items: &[CaseItem], mut idx: usize, ctx: &Ctx) -> Vec<St> {
        let mut states = vec![st];
        while let Some(item) = items.get(idx) {
            states = self.walk_program(states, &item.body, ctx);
            if !item.fallthrough {
                break;
            }
            idx += 1;
        }
        states
    }

    /// Some(true) when a pattern matches, Some(false) when none can, None when it depends.
    fn case_match(
        &mut self,
        st: &mut St,
        subject: Option<&str>,
        patterns: &[Word],
    ) -> Option<bool> {
        let mut unknown = false;
        for p in patterns {
            let pat = self.expand_pattern(st, p);
            match (subject, pat) {
                (_, Some(pat)) if pat.iter().all(|c| matches!(c, Pc::Star)) && !pat.is_empty() => {
                    return Some(true)
                }
                (Some(s), Some(pat)) => {
                    if glob_match(&pat, &s.chars().collect::<Vec<_>>()) {
                        return Some(true);
                    }
                }
                _ => unknown = true,
            }
        }
        if unknown {
            None
        } else {
            Some(false)
        }
    }

    fn command_text(ctx: &Ctx, cmd: &Command) -> String {
        let bytes = ctx.src.get(cmd.span.0..cmd.span.1).unwrap_or(&[]);
        let text = String::from_utf8_lossy(bytes).replace("\\\n", " ");
        let mut out = String::new();
        for w in text.split_whitespace() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(w);
            if out.len() > 1000 {
                out.push('…');
                break;
            }
        }
        out
    }

    fn walk_simple(&mut self, mut st: St, sc: &SimpleCommand, cmd: &Command, ctx: &Ctx) -> Vec<St> {
        let mut fields: Vec<Arg> = Vec::new();
        for w in &sc.words {
            fields.extend(self.expand(&mut st, w, true));
        }
        let has_subst = sc.assigns.iter().any(|(_, w)| has_cmd_subst(w));
        if fields.is_empty() {
            for (n, w) in &sc.assigns {
                let v = self.expand_str(&mut st, w);
                st.set(n, v);
            }
            st.status = if has_subst {
                Status::External
            } else {
                Status::True
            };
            return vec![st];
        }
        let mut prefix: Vec<(String, Val)> = Vec::new();
        for (n, w) in &sc.assigns {
            let v = self.expand_str(&mut st, w);
            prefix.push((n.clone(), v));
        }
        let step = Step {
            file: ctx.file.to_string(),
            line: cmd.line,
            command: Self::command_text(ctx, cmd),
        };
        let Some(name) = fields.first().and_then(|f| f.val.clone()) else {
            let raw = fields.first().map(|f| f.raw.clone()).unwrap_or_default();
            self.diag(format!(
                "{}:{}: command `{raw}` not known statically",
                ctx.file, cmd.line
            ));
            st.status = Status::External;
            return vec![st];
        };
        let args: Vec<Arg> = fields.get(1..).unwrap_or(&[]).to_vec();
        let arg = |i: usize| args.get(i).and_then(|a| a.val.clone());
        match name.as_str() {
            "exec" => {
                let mut i = 0;
                while let Some(a) = arg(i) {
                    match a.as_str() {
                        "-a" => i += 2,
                        "-c" | "-l" | "-cl" | "-lc" => i += 1,
                        "--" => {
                            i += 1;
                            break;
                        }
                        _ => break,
                    }
                }
                let argv = args.get(i..).unwrap_or(&[]).to_vec();
                if argv.is_empty() {
                    st.status = Status::True;
                    return vec![st];
                }
                let t = self.transfer(&st, step, argv, &prefix);
                st.flow = Flow::Exec(Box::new(t));
            }
            "exit" => {
                let ok = match arg(0) {
                    None => true,
                    Some(c) => c.trim() == "0" || c.trim().parse::<i64>().is_err(),
                };
                st.flow = Flow::Exit(ok);
            }
            "return" => {
                st.status = match arg(0) {
                    None => st.status,
                    Some(c) if c.trim() == "0" => Status::True,
                    Some(c) if c.trim().parse::<i64>().is_ok() => Status::False,
                    Some(_) => Status::Unknown,
                };
                if args.first().is_some_and(|a| a.val.is_none()) {
                    st.status = Status::Unknown;
                }
                st.flow = Flow::Return;
            }
            "break" => st.flow = Flow::Break,
            "continue" => st.flow = Flow::Continue,
            "set" => {
                let mut i = 0;
                let mut set_pos = false;
                while let Some(a) = args.get(i) {
                    let Some(v) = a.val.as_deref() else {
                        set_pos = true;
                        break;
                    };
                    if v == "--" {
                        i += 1;
                        set_pos = true;
                        break;
                    }
                    if v == "-" {
                        i += 1;
                        set_pos = args.len() > i;
                        break;
                    }
                    if (v.starts_with('-') || v.starts_with('+')) && v.len() > 1 {
                        i += if v.contains('o') { 2 } else { 1 };
                        continue;
                    }
                    set_pos = true;
                    break;
                }
                if set_pos {
                    st.pos = args.get(i..).unwrap_or(&[]).to_vec();
                    st.pos_unknown = false;
                }
                st.status = Status::True;
            }
            "shift" => {
                let n = match arg(0) {
                    None => Some(1usize),
                    Some(s) => s.trim().parse().ok(),
                };
                match n {
                    Some(n) if n <= st.pos.len() => {
                        st.pos.drain(..n);
                        st.status = Status::True;
                    }
                    Some(_) => st.status = Status::False,
                    None => {
                        st.pos_unknown = true;
                        st.status = Status::Unknown;
                    }
                }
            }
            "export" | "readonly" | "local" | "declare" | "typeset" => {
                let exporting = name == "export"
                    || args.iter().any(|a| {
                        a.val
                            .as_deref()
                            .is_some_and(|v| v.starts_with('-') && v.contains('x'))
                    });
                for w in sc.words.iter().skip(1) {
                    if let Some((n, v)) = shell::split_assignment(w) {
                        let val = self.expand_str(&mut st, &v);
                        st.set(&n, val);
                        if exporting {
                            st.exported.insert(n);
                        }
                    } else if let Some(n) = w.literal() {
                        if shell::is_name(&n) {
                            if name == "local" || name == "declare" || name == "typeset" {
                                st.vars.entry(n.clone()).or_insert(Some(String::new()));
                            }
                            if exporting {
                                st.exported.insert(n);
                            }
                        }
                    }
                }
                st.status = Status::True;
            }
            "unset" => {
                let funcs = args.iter().any(|a| a.val.as_deref() == Some("-f"));
                for a in &args {
                    if let Some(v) = &a.val {
                        if !v.starts_with('-') {
                            if funcs {
                                st.funcs.remove(v);
                            } else {
                                st.vars.remove(v);
                                st.exported.remove(v);
                            }
                        }
                    }
                }
                st.status = Status::True;
            }
            "cd" => {
                let target = match args.first() {
                    None => st.get("HOME").cloned().unwrap_or(Some("/".to_owned())),
                    Some(a) => a.val.clone(),
                };
                match (target, st.cwd.clone()) {
                    (Some(t), Some(cwd)) if t != "-" => {
                        let new = abs_path(&cwd, &t);
                        st.set("PWD", Some(new.clone()));
                        st.cwd = Some(new);
                    }
                    _ => {
                        st.cwd = None;
                        st.set("PWD", None);
                    }
                }
                st.status = Status::True;
            }
            "." | "source" => return self.source(st, &args, step, ctx),
            "eval" => {
                let known: Option<Vec<String>> = args.iter().map(|a| a.val.clone()).collect();
                match known {
                    Some(parts) if st.frames.len() < MAX_CALL_DEPTH => {
                        let text = parts.join(" ");
                        let parsed = shell::parse(text.as_bytes());
                        let sub = Ctx {
                            file: ctx.file.clone(),
                            src: Rc::from(text.into_bytes()),
                        };
                        st.frames.push(step);
                        let line = cmd.line;
                        let mut out =
                            self.walk_program(vec![st], &shift_lines(parsed.program, line), &sub);
                        for s in &mut out {
                            s.frames.pop();
                        }
                        return out;
                    }
                    _ => {
                        self.diag(format!("{}:{}: eval of unknown text", ctx.file, cmd.line));
                        st.status = Status::Unknown;
                    }
                }
            }
            "command" if matches!(arg(0).as_deref(), Some("-v" | "-V")) => {
                st.status = match args.get(1).and_then(|a| a.val.clone()) {
                    Some(n) => {
                        if self.command_v(&st, &n).is_some() {
                            Status::True
                        } else {
                            Status::False
                        }
                    }
                    None => Status::Unknown,
                };
            }
            "command" | "builtin" => {
                let mut rest = args.clone();
                while rest.first().and_then(|a| a.val.as_deref()) == Some("-p") {
                    rest.remove(0);
                }
                if rest.is_empty() {
                    st.status = Status::True;
                } else {
                    return self.external(st, step, rest, &prefix);
                }
            }
            "[" | "test" | "[[" => {
                st.status = match self.eval_test(&st, &name, &args, &sc.words) {
                    Some(true) => Status::True,
                    Some(false) => Status::False,
                    None => Status::Unknown,
                };
            }
            "true" | ":" => st.status = Status::True,
            "false" => st.status = Status::False,
            "read" => {
                for a in &args {
                    if let Some(v) = &a.val {
                        if shell::is_name(v) {
                            st.set(v, None);
                        }
                    }
                }
                st.status = Status::Unknown;
            }
            n if BUILTINS.contains(&n) => st.status = Status::True,
            n if st.funcs.contains_key(n) => return self.call(st, n, args, step),
            _ => return self.external(st, step, fields, &prefix),
        }
        vec![st]
    }

    fn transfer(&self, st: &St, step: Step, argv: Vec<Arg>, prefix: &[(String, Val)]) -> Transfer {
        let mut proc = st.proc();
        for (k, v) in prefix {
            proc.env.insert(k.clone(), v.clone());
        }
        let mut path = st.frames.clone();
        path.push(step);
        Transfer { path, argv, proc }
    }

    fn external(
        &mut self,
        mut st: St,
        step: Step,
        argv: Vec<Arg>,
        prefix: &[(String, Val)],
    ) -> Vec<St> {
        st.status = Status::External;
        if st.cond_depth == 0 {
            st.candidate = Some(Box::new(self.transfer(&st, step, argv, prefix)));
        }
        vec![st]
    }

    fn call(&mut self, mut st: St, name: &str, args: Vec<Arg>, step: Step) -> Vec<St> {
        let Some(f) = st.funcs.get(name).cloned() else {
            return vec![st];
        };
        if st.frames.len() >= MAX_CALL_DEPTH {
            self.diag(format!(
                "{}:{}: calls nested deeper than {MAX_CALL_DEPTH}",
                step.file, step.line
            ));
            st.status = Status::Unknown;
            return vec![st];
        }
        let saved_pos = std::mem::replace(&mut st.pos, args);
        let saved_unknown = std::mem::replace(&mut st.pos_unknown, false);
        st.funcstack.push(name.to_owned());
        st.frames.push(step);
        let out = self.walk_command(st, &f.body, &f.ctx);
        out.into_iter()
            .map(|mut s| {
                s.pos = saved_pos.clone();
                s.pos_unknown = saved_unknown;
                s.funcstack.pop();
                s.frames.pop();
                if s.flow == Flow::Return {
                    s.flow = Flow::Normal;
                }
                s
            })
            .collect()
    }

    fn source(&mut self, mut st: St, args: &[Arg], step: Step, ctx: &Ctx) -> Vec<St> {
        let Some(target) = args.first() else {
            st.status = Status::False;
            return vec![st];
        };
        let Some(path) = target.val.clone() else {
            self.diag(format!(
                "{}:{}: sourced file `{}` not known statically",
                step.file, step.line, target.raw
            ));
            st.status = Status::Unknown;
            return vec![st];
        };
        let cwd = st.cwd.clone().unwrap_or_else(|| "/".to_owned());
        let mut found = None;
        if path.contains('/') {
            found = self.stat(&abs_path(&cwd, &path));
        } else {
            let pv = st
                .get("PATH")
                .cloned()
                .unwrap_or(Some(super::DEFAULT_PATH.to_owned()))
                .unwrap_or_default();
            for dir in pv.split(':').chain(std::iter::once(".")) {
                if let Some(f) = self.stat(&abs_path(&cwd, &format!("{dir}/{path}"))) {
                    found = Some(f);
                    break;
                }
            }
        }
        let content = found.as_ref().and_then(|(real, _)| self.fs.read(real));
        let (Some((real, _)), Some(src)) = (found, content) else {
            self.diag(format!(
                "{}:{}: sourced file {path} not in the image",
                step.file, step.line
            ));
            st.status = Status::Unknown;
            return vec![st];
        };
        if st.frames.len() >= MAX_CALL_DEPTH {
            self.diag(format!(
                "{}:{}: sources nested too deep",
                step.file, step.line
            ));
            st.status = Status::Unknown;
            return vec![st];
        }
        let parsed = shell::parse(&src);
        let file = format!("/{real}");
        if let Some(e) = &parsed.error {
            self.diag(format!("{file}:{}: {}", e.line, e.message));
        }
        let sub = Ctx {
            file: Rc::from(file.as_str()),
            src: Rc::from(src),
        };
        let new_pos = args.get(1..).filter(|a| !a.is_empty()).map(<[Arg]>::to_vec);
        let saved_pos = new_pos.map(|p| std::mem::replace(&mut st.pos, p));
        st.frames.push(step);
        st.funcstack.push("source".to_owned());
        let _ = ctx;
        let out = self.walk_program(vec![st], &parsed.program, &sub);
        out.into_iter()
            .map(|mut s| {
                if let Some(p) = &saved_pos {
                    s.pos = p.clone();
                }
                s.frames.pop();
                s.funcstack.pop();
                if s.flow == Flow::Return {
                    s.flow = Flow::Normal;
                }
                s
            })
            .collect()
    }

    /// What `command -v NAME` prints: a function/builtin name, or the path found in PATH.
    fn command_v(&self, st: &St, name: &str) -> Option<String> {
        if st.funcs.contains_key(name)
            || BUILTINS.contains(&name)
            || matches!(
                name,
                "exec"
                    | "exit"
                    | "set"
                    | "shift"
                    | "export"
                    | "cd"
                    | "."
                    | "source"
                    | "eval"
                    | "test"
                    | "["
                    | "true"
                    | "false"
                    | ":"
                    | "command"
                    | "local"
                    | "return"
                    | "unset"
            )
        {
            return Some(name.to_owned());
        }
        let proc = st.proc();
        let mut proc = proc;
        if let Some(p) = st.get("PATH") {
            proc.env.insert("PATH".to_owned(), p.clone());
        }
        self.resolve(name, &proc).map(|f| f.path)
    }

    // ---- expansion ----

    /// Expands a word to fields (`split`: field splitting of unquoted expansions).
    fn expand(&mut self, st: &mut St, w: &Word, split: bool) -> Vec<Arg> {
        let mut acc = Acc::default();
        for p in &w.parts {
            match p {
                Part::Lit { text, quoted } => {
                    acc.push_str(text);
                    if *quoted {
                        acc.started = true;
                    }
                }
                Part::Param(pm)
                    if pm.op == ParamOp::Plain
                        && pm.index.is_none()
                        && !pm.indirect
                        && (pm.name == "@" || pm.name == "*") =>
                {
                    if st.pos_unknown {
                        acc.push_unknown();
                        continue;
                    }
                    let vals: Vec<Val> = st.pos.iter().map(|a| a.val.clone()).collect();
                    if pm.quoted && pm.name == "@" {
                        for (i, v) in vals.iter().enumerate() {
                            if i > 0 {
                                acc.end_field(&w.raw);
                            }
                            acc.push_val(v.as_deref());
                            acc.started = true;
                        }
                    } else if pm.quoted {
                        let joined: Option<Vec<String>> = vals.iter().cloned().collect();
                        acc.push_val(joined.map(|j| j.join(" ")).as_deref());
                        acc.started = true;
                    } else {
                        for (i, v) in vals.iter().enumerate() {
                            if i > 0 {
                                acc.end_field(&w.raw);
                            }
                            acc.push_split(v.as_deref(), &w.raw);
                        }
                    }
                }
                Part::Param(pm) => {
                    let v = self.param_value(st, pm);
                    if pm.quoted || !split {
                        acc.push_val(v.as_deref());
                        acc.started = true;
                    } else {
                        acc.push_split(v.as_deref(), &w.raw);
                    }
                }
                Part::CmdSubst { program, quoted } => {
                    let v = self.subst_value(st, program);
                    if *quoted || !split {
                        acc.push_val(v.as_deref());
                        acc.started = true;
                    } else {
                        acc.push_split(v.as_deref(), &w.raw);
                    }
                }
                Part::Arith { text, .. } => {
                    let v = text.trim().parse::<i64>().ok().map(|n| n.to_string());
                    acc.push_val(v.as_deref());
                    acc.started = true;
                }
            }
        }
        acc.end_field(&w.raw);
        acc.fields
    }

    /// Expands a word to one string (assignments, case subjects, operator words).
    fn expand_str(&mut self, st: &mut St, w: &Word) -> Val {
        let fields = self.expand(st, w, false);
        let mut out = String::new();
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(f.val.as_deref()?);
        }
        Some(out)
    }

    fn expand_pattern(&mut self, st: &mut St, w: &Word) -> Option<Vec<Pc>> {
        let mut out = Vec::new();
        for p in &w.parts {
            match p {
                Part::Lit { text, quoted } => push_pattern(&mut out, text, *quoted),
                Part::Param(pm) => {
                    let v = self.param_value(st, pm)?;
                    push_pattern(&mut out, &v, pm.quoted);
                }
                _ => return None,
            }
        }
        Some(out)
    }

    fn positional(st: &St, n: usize) -> Option<Val> {
        if st.pos_unknown {
            return Some(None);
        }
        if n == 0 {
            return Some(Some(st.dollar0.clone()));
        }
        st.pos.get(n - 1).map(|a| a.val.clone())
    }

    /// The raw value: None = unset, Some(None) = set to something unknown.
    fn base_value(&self, st: &St, p: &Param) -> Option<Val> {
        let name = p.name.as_str();
        if let Some(index) = &p.index {
            let idx = index.trim();
            if name == "FUNCNAME" {
                let mut list: Vec<String> = st.funcstack.iter().rev().cloned().collect();
                if !list.is_empty() {
                    list.push("main".to_owned());
                }
                if idx == "@" || idx == "*" {
                    return Some(Some(list.join(" ")));
                }
                return match idx.parse::<usize>() {
                    Ok(i) => list.get(i).cloned().map(Some),
                    Err(_) => Some(None),
                };
            }
            if idx == "0" {
                return st.get(name).cloned();
            }
            return Some(None);
        }
        if let Ok(n) = name.parse::<usize>() {
            return Self::positional(st, n);
        }
        match name {
            "#" => Some(if st.pos_unknown {
                None
            } else {
                Some(st.pos.len().to_string())
            }),
            "@" | "*" => {
                if st.pos_unknown {
                    return Some(None);
                }
                let v: Option<Vec<String>> = st.pos.iter().map(|a| a.val.clone()).collect();
                Some(v.map(|v| v.join(" ")))
            }
            "?" | "$" | "!" => Some(None),
            "-" => Some(Some(String::new())),
            _ => st.get(name).cloned(),
        }
    }

    fn param_value(&mut self, st: &mut St, p: &Param) -> Val {
        let mut base = self.base_value(st, p);
        if p.indirect {
            base = match base {
                Some(Some(n)) if shell::is_name(&n) => st.get(&n).cloned(),
                Some(Some(n)) if n.parse::<usize>().is_ok() => n
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| Self::positional(st, i)),
                Some(Some(_)) | None => None,
                Some(None) => Some(None),
            };
        }
        if p.name == "FUNCNAME" && p.op == ParamOp::Length && p.index.is_some() {
            let n = if st.funcstack.is_empty() {
                0
            } else {
                st.funcstack.len() + 1
            };
            return Some(n.to_string());
        }
        let arg = |t: &mut Self, st: &mut St| match &p.arg {
            Some(w) => t.expand_str(st, w),
            None => Some(String::new()),
        };
        match p.op {
            ParamOp::Plain => base.unwrap_or(Some(String::new())),
            ParamOp::Length => match base {
                None => Some("0".to_owned()),
                Some(v) => v.map(|v| v.chars().count().to_string()),
            },
            ParamOp::Default(colon) | ParamOp::Assign(colon) | ParamOp::Error(colon) => {
                let use_word = match &base {
                    None => Some(true),
                    Some(Some(v)) => Some(colon && v.is_empty()),
                    Some(None) => None,
                };
                match use_word {
                    Some(true) => {
                        if matches!(p.op, ParamOp::Error(_)) {
                            return Some(String::new());
                        }
                        let v = arg(self, st);
                        if matches!(p.op, ParamOp::Assign(_)) && shell::is_name(&p.name) {
                            st.set(&p.name, v.clone());
                        }
                        v
                    }
                    Some(false) => base.flatten(),
                    None => None,
                }
            }
            ParamOp::Alt(colon) => match &base {
                None => Some(String::new()),
                Some(Some(v)) if colon && v.is_empty() => Some(String::new()),
                Some(Some(_)) => arg(self, st),
                Some(None) => None,
            },
            ParamOp::RemovePrefix
            | ParamOp::RemoveLongPrefix
            | ParamOp::RemoveSuffix
            | ParamOp::RemoveLongSuffix => {
                let v = base.unwrap_or(Some(String::new()))?;
                if v.len() > MAX_VALUE {
                    return None;
                }
                let pat = match &p.arg {
                    Some(w) => self.expand_pattern(st, w)?,
                    None => Vec::new(),
                };
                Some(remove_pattern(&v, &pat, p.op))
            }
            ParamOp::Substring => {
                let v = base.unwrap_or(Some(String::new()))?;
                let spec = arg(self, st)?;
                let (off, len) = match spec.split_once(':') {
                    Some((o, l)) => (
                        o.trim().parse::<i64>().ok()?,
                        Some(l.trim().parse::<i64>().ok()?),
                    ),
                    None => (spec.trim().parse::<i64>().ok()?, None),
                };
                let chars: Vec<char> = v.chars().collect();
                let n = chars.len() as i64;
                let start = if off < 0 {
                    (n + off).max(0)
                } else {
                    off.min(n)
                };
                let end = match len {
                    None => n,
                    Some(l) if l < 0 => (n + l).max(start),
                    Some(l) => (start + l).min(n),
                };
                let s = usize::try_from(start).ok()?;
                let e = usize::try_from(end).ok()?;
                Some(chars.get(s..e).unwrap_or(&[]).iter().collect())
            }
            ParamOp::Replace => None,
            ParamOp::Upper => base
                .unwrap_or(Some(String::new()))
                .map(|v| v.to_uppercase()),
            ParamOp::Lower => base
                .unwrap_or(Some(String::new()))
                .map(|v| v.to_lowercase()),
        }
    }

    /// The output of `$(…)` when it can be known: `command -v X`, `pwd`, `dirname`/`basename X`,
    /// `echo known…`.
    fn subst_value(&mut self, st: &mut St, program: &Program) -> Val {
        let [ao] = program.items.as_slice() else {
            return None;
        };
        if !ao.rest.is_empty() || ao.first.commands.len() != 1 {
            return None;
        }
        let cmd = ao.first.commands.first()?;
        let CommandKind::Simple(sc) = &cmd.kind else {
            return None;
        };
        if !sc.assigns.is_empty() {
            return None;
        }
        let mut fields = Vec::new();
        for w in &sc.words {
            fields.extend(self.expand(st, w, true));
        }
        let vals: Option<Vec<String>> = fields.iter().map(|f| f.val.clone()).collect();
        let vals = vals?;
        let strs: Vec<&str> = vals.iter().map(String::as_str).collect();
        match strs.as_slice() {
            ["command", "-v", name] => Some(self.command_v(st, name).unwrap_or_default()),
            ["pwd"] => st.cwd.clone(),
            ["dirname", p] => Some(match p.trim_end_matches('/').rsplit_once('/') {
                Some(("", _)) => "/".to_owned(),
                Some((d, _)) => d.to_owned(),
                None => ".".to_owned(),
            }),
            ["basename", p] => Some(basename_of(p.trim_end_matches('/')).to_owned()),
            ["echo", rest @ ..] if rest.first().is_none_or(|f| !f.starts_with('-')) => {
                Some(rest.join(" "))
            }
            _ => None,
        }
    }

    /// `[ … ]`, `test …`, `[[ … ]]`.
    fn eval_test(&self, st: &St, name: &str, args: &[Arg], words: &[Word]) -> Option<bool> {
        let mut vals: Vec<Val> = args.iter().map(|a| a.val.clone()).collect();
        if name == "[" || name == "[[" {
            let close = if name == "[" { "]" } else { "]]" };
            if vals.last().cloned().flatten().as_deref() != Some(close) {
                return None;
            }
            vals.pop();
        }
        if name == "[[" {
            // `&&` / `||` at the top level, left to right.
            let _ = words;
            let mut result: Option<bool> = None;
            let mut op: Option<&str> = None;
            let mut seg: Vec<Val> = Vec::new();
            let mut segs: Vec<(Option<&str>, Vec<Val>)> = Vec::new();
            for v in &vals {
                match v.as_deref() {
                    Some("&&") => {
                        segs.push((op, std::mem::take(&mut seg)));
                        op = Some("&&");
                    }
                    Some("||") => {
                        segs.push((op, std::mem::take(&mut seg)));
                        op = Some("||");
                    }
                    _ => seg.push(v.clone()),
                }
            }
            segs.push((op, seg));
            for (i, (op, seg)) in segs.iter().enumerate() {
                let r = self.test_expr(st, seg, true);
                result = if i == 0 {
                    r
                } else {
                    match (*op, result, r) {
                        (Some("&&"), Some(false), _) | (Some("&&"), _, Some(false)) => Some(false),
                        (Some("&&"), Some(true), Some(true)) => Some(true),
                        (Some("||"), Some(true), _) | (Some("||"), _, Some(true)) => Some(true),
                        (Some("||"), Some(false), Some(false)) => Some(false),
                        _ => None,
                    }
                };
            }
            return result;
        }
        self.test_expr(st, &vals, false)
    }

    fn test_expr(&self, st: &St, v: &[Val], dbl: bool) -> Option<bool> {
        let s = |i: usize| v.get(i).cloned().flatten();
        // -o / -a (lowest precedence first).
        if v.len() > 3 {
            for op in ["-o", "-a"] {
                if let Some(i) = v.iter().rposition(|x| x.as_deref() == Some(op)) {
                    if i > 0 {
                        let l = self.test_expr(st, v.get(..i)?, dbl);
                        let r = self.test_expr(st, v.get(i + 1..)?, dbl);
                        return match (op, l, r) {
                            ("-o", Some(true), _) | ("-o", _, Some(true)) => Some(true),
                            ("-o", Some(false), Some(false)) => Some(false),
                            ("-a", Some(false), _) | ("-a", _, Some(false)) => Some(false),
                            ("-a", Some(true), Some(true)) => Some(true),
                            _ => None,
                        };
                    }
                }
            }
        }
        if v.first().cloned().flatten().as_deref() == Some("!") && v.len() > 1 {
            return self.test_expr(st, v.get(1..)?, dbl).map(|b| !b);
        }
        if v.first().cloned().flatten().as_deref() == Some("(")
            && v.last().cloned().flatten().as_deref() == Some(")")
            && v.len() > 2
        {
            return self.test_expr(st, v.get(1..v.len() - 1)?, dbl);
        }
        match v.len() {
            0 => Some(false),
            1 => s(0).map(|x| !x.is_empty()),
            2 => {
                let op = s(0)?;
                let x = v.get(1)?.clone();
                match op.as_str() {
                    "-z" => x.map(|x| x.is_empty()),
                    "-n" => x.map(|x| !x.is_empty()),
                    "-f" | "-x" | "-e" | "-s" | "-r" | "-w" | "-d" | "-L" | "-h" => {
                        let cwd = st.cwd.as_deref()?;
                        let x = x?;
                        if x.is_empty() {
                            return Some(false);
                        }
                        let found = self.stat(&abs_path(cwd, &x));
                        match (op.as_str(), found) {
                            ("-f", f) => Some(f.is_some()),
                            ("-x", Some((_, mode))) => Some(mode & 0o111 != 0),
                            ("-x", None) => None,
                            ("-e" | "-r" | "-w", Some(_)) => Some(true),
                            ("-d", Some(_)) => Some(false),
                            _ => None,
                        }
                    }
                    "-t" => Some(false),
                    _ => None,
                }
            }
            3 => {
                let op = s(1)?;
                let (a, b) = (s(0), s(2));
                match op.as_str() {
                    "=" | "==" => {
                        let (a, b) = (a?, b?);
                        if dbl && b.contains(['*', '?', '[']) {
                            let mut pat = Vec::new();
                            push_pattern(&mut pat, &b, false);
                            Some(glob_match(&pat, &a.chars().collect::<Vec<_>>()))
                        } else {
                            Some(a == b)
                        }
                    }
                    "!=" => Some(a? != b?),
                    "-eq" | "-ne" | "-lt" | "-le" | "-gt" | "-ge" => {
                        let a: i64 = a?.trim().parse().ok()?;
                        let b: i64 = b?.trim().parse().ok()?;
                        Some(match op.as_str() {
                            "-eq" => a == b,
                            "-ne" => a != b,
                            "-lt" => a < b,
                            "-le" => a <= b,
                            "-gt" => a > b,
                            _ => a >= b,
                        })
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

fn basename_of(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

fn has_glob(w: &Word) -> bool {
    w.parts
        .iter()
        .any(|p| matches!(p, Part::Lit { text, quoted: false } if text.contains(['*', '?', '['])))
}

fn has_cmd_subst(w: &Word) -> bool {
    w.parts.iter().any(|p| matches!(p, Part::CmdSubst { .. }))
}

/// Adds `line - 1` to the lines of an eval'd program so steps point at the eval's line.
fn shift_lines(mut p: Program, line: usize) -> Program {
    let add = line.saturating_sub(1);
    for ao in &mut p.items {
        for pl in std::iter::once(&mut ao.first).chain(ao.rest.iter_mut().map(|(_, p)| p)) {
            for c in &mut pl.commands {
                c.line += add;
            }
        }
    }
    p
}

/// Field accumulator for word expansion.
#[derive(Default)]
struct Acc {
    fields: Vec<Arg>,
    /// The current field's text; None once an unknown piece joined it.
    cur: Option<String>,
    unknown: bool,
    started: bool,
}

impl Acc {
    fn push_str(&mut self, s: &str) {
        if !s.is_empty() {
            self.started = true;
        }
        if !self.unknown {
            self.cur.get_or_insert_with(String::new).push_str(s);
        }
    }

    fn push_unknown(&mut self) {
        self.unknown = true;
        self.started = true;
        self.cur = None;
    }

    fn push_val(&mut self, v: Option<&str>) {
        match v {
            Some(s) => self.push_str(s),
            None => self.push_unknown(),
        }
    }

    /// An unquoted expansion: split on blanks (default IFS).
    fn push_split(&mut self, v: Option<&str>, raw: &str) {
        let Some(v) = v else {
            self.push_unknown();
            return;
        };
        if v.is_empty() {
            return;
        }
        let starts_blank = v.starts_with(char::is_whitespace);
        let ends_blank = v.ends_with(char::is_whitespace);
        let pieces: Vec<&str> = v.split_whitespace().collect();
        if starts_blank {
            self.end_field(raw);
        }
        for (i, piece) in pieces.iter().enumerate() {
            if i > 0 {
                self.end_field(raw);
            }
            self.push_str(piece);
        }
        if ends_blank {
            self.end_field(raw);
        }
    }

    fn end_field(&mut self, raw: &str) {
        if self.started {
            let val = if self.unknown {
                None
            } else {
                Some(self.cur.take().unwrap_or_default())
            };
            self.fields.push(Arg {
                val,
                raw: raw.to_owned(),
            });
        }
        self.cur = None;
        self.unknown = false;
        self.started = false;
    }
}

/// A pattern element.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pc {
    Lit(char),
    Any,
    Star,
    /// `[...]`: negated, and (lo, hi) ranges.
    Class(bool, Vec<(char, char)>),
}

fn push_pattern(out: &mut Vec<Pc>, text: &str, quoted: bool) {
    if quoted {
        out.extend(text.chars().map(Pc::Lit));
        return;
    }
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        match c {
            '*' => out.push(Pc::Star),
            '?' => out.push(Pc::Any),
            '\\' => {
                i += 1;
                if let Some(&n) = chars.get(i) {
                    out.push(Pc::Lit(n));
                }
            }
            '[' => {
                // Find the closing bracket (a `]` right after `[` or `[!` is literal).
                let mut j = i + 1;
                let neg = matches!(chars.get(j), Some('!' | '^'));
                if neg {
                    j += 1;
                }
                let body_start = j;
                if chars.get(j) == Some(&']') {
                    j += 1;
                }
                while chars.get(j).is_some_and(|&c| c != ']') {
                    j += 1;
                }
                if chars.get(j) != Some(&']') {
                    out.push(Pc::Lit('['));
                } else {
                    let body = chars.get(body_start..j).unwrap_or(&[]);
                    let mut ranges = Vec::new();
                    let mut k = 0;
                    while let Some(&a) = body.get(k) {
                        if body.get(k + 1) == Some(&'-') {
                            if let Some(&b) = body.get(k + 2) {
                                ranges.push((a, b));
                                k += 3;
                                continue;
                            }
                        }
                        ranges.push((a, a));
                        k += 1;
                    }
                    out.push(Pc::Class(neg, ranges));
                    i = j;
                }
            }
            c => out.push(Pc::Lit(c)),
        }
        i += 1;
    }
}

fn pc_matches(p: &Pc, c: char) -> bool {
    match p {
        Pc::Lit(l) => *l == c,
        Pc::Any => true,
        Pc::Star => true,
        Pc::Class(neg, ranges) => ranges.iter().any(|(a, b)| *a <= c && c <= *b) != *neg,
    }
}

/// Glob match with the usual single-star backtracking: O(len(p) · len(s)).
fn glob_match(p: &[Pc], s: &[char]) -> bool {
    let (mut pi, mut si) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match (p.get(pi), s.get(si)) {
            (Some(Pc::Star), _) => {
                star = Some((pi, si));
                pi += 1;
            }
            (Some(pc), Some(&c)) if pc_matches(pc, c) => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    while matches!(p.get(pi), Some(Pc::Star)) {
        pi += 1;
    }
    pi == p.len()
}

fn remove_pattern(v: &str, pat: &[Pc], op: ParamOp) -> String {
    let chars: Vec<char> = v.chars().collect();
    let n = chars.len();
    let try_prefix = |k: usize| chars.get(..k).is_some_and(|pre| glob_match(pat, pre));
    let try_suffix = |k: usize| chars.get(k..).is_some_and(|suf| glob_match(pat, suf));
    let collect = |r: &[char]| r.iter().collect::<String>();
    match op {
        ParamOp::RemovePrefix => (0..=n)
            .find(|&k| try_prefix(k))
            .map(|k| collect(chars.get(k..).unwrap_or(&[])))
            .unwrap_or_else(|| v.to_owned()),
        ParamOp::RemoveLongPrefix => (0..=n)
            .rev()
            .find(|&k| try_prefix(k))
            .map(|k| collect(chars.get(k..).unwrap_or(&[])))
            .unwrap_or_else(|| v.to_owned()),
        ParamOp::RemoveSuffix => (0..=n)
            .rev()
            .find(|&k| try_suffix(k))
            .map(|k| collect(chars.get(..k).unwrap_or(&[])))
            .unwrap_or_else(|| v.to_owned()),
        ParamOp::RemoveLongSuffix => (0..=n)
            .find(|&k| try_suffix(k))
            .map(|k| collect(chars.get(..k).unwrap_or(&[])))
            .unwrap_or_else(|| v.to_owned()),
        _ => v.to_owned(),
    }
}
