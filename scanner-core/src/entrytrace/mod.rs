//! EntryTrace: from the image config's Entrypoint/Cmd to the program that actually runs (issue 3).
//!
//! [`trace`] builds argv the way Docker does (Entrypoint then Cmd), resolves `argv[0]` through the image's
//! `PATH` and working directory (symlinks followed inside the image by the [`TraceFs`]), and follows the
//! transfers of control to the terminal program:
//! - `#!` scripts run their interpreter line (`#!/usr/bin/env bash -e` splits like `env -S`);
//! - sh/bash/dash scripts and `sh -c "…"` are parsed by [`shell`] and walked symbolically: constant
//!   assignments, `set --`, `shift`, `"$@"`, `exec`, functions, `source`, `if`/`case`/`&&`/`||` on
//!   what is known (`[ "$1" = x ]`, `[ -x file ]`, `command -v`), every branch when it is not;
//!   the program an `exec` runs, else the last external command of the script, is followed;
//! - wrappers (`env`, `tini`, `dumb-init`, `gosu`, `su-exec`, `sudo`, `runuser -u`, `nohup`, `nice`,
//!   `setsid`, `timeout`, …) are stepped through;
//! - launchers are decoded: `java -jar`/`-cp … Main`, `node SCRIPT`, `python -m MOD`/`python SCRIPT`,
//!   and pip's console_scripts wrappers (→ the entry point's module).
//!
//! Every step is recorded as file:line:command, ending at the terminal program. It never reads the
//! host file system and never runs anything; all work is bounded (script depth, steps, states, work).

pub mod shell;
mod walk;

use std::collections::{BTreeMap, BTreeSet};

/// Deepest chain of programs and scripts followed.
pub const MAX_SCRIPT_DEPTH: usize = 16;
/// Most steps recorded in a chain.
pub const MAX_STEPS: usize = 256;
/// Most alternative terminals recorded.
pub const MAX_TERMINALS: usize = 32;
/// `PATH` when the image sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// File name of the initial step.
pub const CONFIG_FILE: &str = "<image config>";

/// The parts of an image config EntryTrace needs.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct ImageConfig {
    /// `Entrypoint` (exec form; a shell form is already `["/bin/sh","-c","…"]`).
    pub entrypoint: Vec<String>,
    /// `Cmd`.
    pub cmd: Vec<String>,
    /// `WorkingDir`.
    pub working_dir: Option<String>,
    /// `Env` as `NAME=value`.
    pub env: Vec<String>,
}

/// The image's file system as EntryTrace sees it.
pub trait TraceFs {
    /// Regular file at `path` (absolute or root-relative) after resolving symlinks inside the image:
    /// its real root-relative path and mode bits.
    fn stat(&self, path: &str) -> Option<(String, u32)>;
    /// Content of a small file (scripts, ≤ 1 MiB); None when absent or not kept.
    fn read(&self, path: &str) -> Option<Vec<u8>>;
}

/// One transfer of control: the file (absolute path) and 1-based line (0 for the image config and
/// for binaries) and the command text there.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Step {
    /// Absolute path of the script or program (or `<image config>`).
    pub file: String,
    /// 1-based line in the script, 0 when not a script line.
    pub line: usize,
    /// The command text.
    pub command: String,
}

/// How the terminal program runs the application.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Launcher {
    /// A native program run directly.
    Native,
    /// A JVM: `-jar JAR` or `-cp … MAIN` (paths absolute).
    Java {
        /// `-jar` target.
        jar: Option<String>,
        /// Class path entries.
        classpath: Vec<String>,
        /// Main class (or `-m` module).
        main_class: Option<String>,
    },
    /// Node.js running a script (absolute path; empty for `-e`).
    Node {
        /// The script.
        script: String,
    },
    /// Python running a module or a script (absolute path).
    Python {
        /// `-m MODULE`, or the module of a console_scripts entry point.
        module: Option<String>,
        /// The script run (the console_scripts wrapper itself when there is one).
        script: Option<String>,
    },
    /// A shell we could not see past (interactive, unreadable or unknown script).
    Shell,
    /// A file we cannot classify.
    Unknown,
}

/// The program the chain ends at.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Terminal {
    /// Real root-relative path of the program.
    pub program: String,
    /// Its argv (unknown arguments shown as their source text).
    pub argv: Vec<String>,
    /// What it launches.
    pub launcher: Launcher,
}

/// The result of [`trace`].
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Trace {
    /// Steps from the image config to the terminal programs (all alternatives, in the order seen).
    pub chain: Vec<Step>,
    /// Terminal programs (several when a branch on an unknown value leads to different programs).
    pub terminals: Vec<Terminal>,
    /// What could not be followed, and why.
    pub diagnostics: Vec<String>,
}

/// Traces the image's entrypoint to its terminal programs.
pub fn trace(config: &ImageConfig, fs: &dyn TraceFs) -> Trace {
    let mut t = Tracer::new(fs);
    let argv: Vec<String> = config
        .entrypoint
        .iter()
        .chain(config.cmd.iter())
        .cloned()
        .collect();
    if argv.is_empty() {
        t.diag("image config has neither Entrypoint nor Cmd".to_owned());
        return t.finish();
    }
    let mut env = BTreeMap::new();
    for e in &config.env {
        if let Some((k, v)) = e.split_once('=') {
            if !k.is_empty() {
                env.insert(k.to_owned(), Some(v.to_owned()));
            }
        }
    }
    let cwd = config
        .working_dir
        .as_deref()
        .filter(|w| !w.is_empty())
        .map(|w| abs_path("/", w))
        .unwrap_or_else(|| "/".to_owned());
    let args: Vec<Arg> = argv.iter().map(|a| Arg::known(a)).collect();
    t.push_step(Step {
        file: CONFIG_FILE.to_owned(),
        line: 0,
        command: join_args(&args),
    });
    t.exec(args, Proc { env, cwd }, 0);
    t.finish()
}

/// An argument: its value when known, and the source text it came from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Arg {
    pub(crate) val: Option<String>,
    pub(crate) raw: String,
}

impl Arg {
    pub(crate) fn known(s: &str) -> Arg {
        Arg {
            val: Some(s.to_owned()),
            raw: s.to_owned(),
        }
    }

    fn show(&self) -> &str {
        self.val.as_deref().unwrap_or(&self.raw)
    }
}

fn join_args(args: &[Arg]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let s = a.show();
        if a.val.is_some() && (s.is_empty() || s.contains(char::is_whitespace)) {
            out.push('\'');
            out.push_str(&s.replace('\'', "'\\''"));
            out.push('\'');
        } else {
            out.push_str(s);
        }
    }
    out
}

/// The process environment handed to a program: exported variables and the working directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Proc {
    pub(crate) env: BTreeMap<String, Option<String>>,
    /// Absolute.
    pub(crate) cwd: String,
}

impl Proc {
    fn path_var(&self) -> Option<String> {
        match self.env.get("PATH") {
            Some(Some(p)) => Some(p.clone()),
            Some(None) => None,
            None => Some(DEFAULT_PATH.to_owned()),
        }
    }
}

/// Joins `p` to `cwd` (absolute) and normalises `.`/`..` lexically; the result is absolute.
pub(crate) fn abs_path(cwd: &str, p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    let joined_cwd = if p.starts_with('/') { "" } else { cwd };
    for seg in joined_cwd.split('/').chain(p.split('/')) {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

pub(crate) fn is_shell_name(name: &str) -> bool {
    matches!(
        name,
        "sh" | "bash" | "dash" | "ash" | "ksh" | "mksh" | "zsh" | "busybox-sh"
    )
}

fn is_python_name(name: &str) -> bool {
    let rest = if let Some(r) = name.strip_prefix("python") {
        r
    } else if let Some(r) = name.strip_prefix("pypy") {
        r
    } else {
        return false;
    };
    rest.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// A program found on disk: the path it was found at (absolute) and its real path (root-relative).
struct Found {
    path: String,
    real: String,
    mode: u32,
}

pub(crate) struct Tracer<'a> {
    fs: &'a dyn TraceFs,
    chain: Vec<Step>,
    seen_steps: BTreeSet<Step>,
    terminals: Vec<Terminal>,
    diagnostics: Vec<String>,
    seen_diags: BTreeSet<String>,
    /// Scripts already walked with these arguments (a script that re-executes itself).
    visited: BTreeSet<(String, Vec<Arg>)>,
    /// Commands walked so far (all scripts), against [`walk::MAX_WORK`].
    work: usize,
    /// Current nesting of commands being walked.
    nest: usize,
}

impl<'a> Tracer<'a> {
    fn new(fs: &'a dyn TraceFs) -> Self {
        Tracer {
            fs,
            chain: Vec::new(),
            seen_steps: BTreeSet::new(),
            terminals: Vec::new(),
            diagnostics: Vec::new(),
            seen_diags: BTreeSet::new(),
            visited: BTreeSet::new(),
            work: 0,
            nest: 0,
        }
    }

    fn finish(self) -> Trace {
        Trace {
            chain: self.chain,
            terminals: self.terminals,
            diagnostics: self.diagnostics,
        }
    }

    pub(crate) fn diag(&mut self, d: String) {
        if self.diagnostics.len() < 256 && self.seen_diags.insert(d.clone()) {
            self.diagnostics.push(d);
        }
    }

    pub(crate) fn push_step(&mut self, s: Step) {
        if self.seen_steps.contains(&s) {
            return;
        }
        if self.chain.len() >= MAX_STEPS {
            self.diag(format!("more than {MAX_STEPS} steps; chain cut"));
            return;
        }
        self.seen_steps.insert(s.clone());
        self.chain.push(s);
    }

    fn push_terminal(&mut self, t: Terminal) {
        if self.terminals.contains(&t) {
            return;
        }
        if self.terminals.len() >= MAX_TERMINALS {
            self.diag(format!(
                "more than {MAX_TERMINALS} terminal programs; list cut"
            ));
            return;
        }
        self.terminals.push(t);
    }

    fn stat(&self, abs: &str) -> Option<(String, u32)> {
        let (real, mode) = self.fs.stat(abs)?;
        Some((real.trim_start_matches('/').to_owned(), mode))
    }

    /// Finds a program the way execvp does: a name with a slash is a path (relative to the working
    /// directory), a bare name is looked up in `PATH` (executable files only).
    fn resolve(&self, prog: &str, proc: &Proc) -> Option<Found> {
        if prog.contains('/') {
            let path = abs_path(&proc.cwd, prog);
            let (real, mode) = self.stat(&path)?;
            return Some(Found { path, real, mode });
        }
        let path_var = proc.path_var()?;
        for dir in path_var.split(':') {
            let dir = if dir.is_empty() { "." } else { dir };
            let path = abs_path(&proc.cwd, &format!("{dir}/{prog}"));
            if let Some((real, mode)) = self.stat(&path) {
                if mode & 0o111 != 0 {
                    return Some(Found { path, real, mode });
                }
            }
        }
        None
    }

    /// Runs `argv` in `proc`: follows wrappers, shells, interpreters and launchers to the terminal.
    pub(crate) fn exec(&mut self, argv: Vec<Arg>, mut proc: Proc, depth: usize) {
        if depth > MAX_SCRIPT_DEPTH {
            self.diag(format!(
                "chain deeper than {MAX_SCRIPT_DEPTH} at `{}`",
                join_args(&argv)
            ));
            return;
        }
        let Some(first) = argv.first() else { return };
        let Some(prog) = first.val.clone() else {
            self.diag(format!("program not known statically: `{}`", first.raw));
            return;
        };
        if prog.is_empty() {
            self.diag("empty program name".to_owned());
            return;
        }
        let name = basename(&prog).to_owned();
        let found = self.resolve(&prog, &proc);
        if let Some(rest) = self.unwrap_wrapper(&name, &argv, &mut proc) {
            let file = found
                .as_ref()
                .map(|f| format!("/{}", f.real))
                .unwrap_or_else(|| prog.clone());
            if found.is_none() {
                self.diag(format!("{prog}: not found in the image"));
            }
            self.push_step(Step {
                file,
                line: 0,
                command: join_args(&argv),
            });
            self.exec(rest, proc, depth + 1);
            return;
        }
        let Some(found) = found else {
            self.diag(format!(
                "{prog}: not found in the image (PATH {}, cwd {})",
                proc.path_var().unwrap_or_default(),
                proc.cwd
            ));
            return;
        };
        let real_name = basename(&found.real).to_owned();
        if is_shell_name(&name) || (is_shell_name(&real_name) && name != "busybox") {
            self.run_shell(&argv, &found.real, proc, depth);
            return;
        }
        let launcher = if name == "java" || real_name == "java" {
            Some(self.java(&argv, &proc))
        } else if matches!(name.as_str(), "node" | "nodejs")
            || matches!(real_name.as_str(), "node" | "nodejs")
        {
            Some(self.node(&argv, &proc))
        } else if is_python_name(&name) || is_python_name(&real_name) {
            Some(self.python(&argv, &proc))
        } else {
            None
        };
        if let Some(launcher) = launcher {
            self.terminal(&found, &argv, launcher);
            return;
        }
        let content = self.fs.read(&found.real);
        match content.as_deref() {
            Some(c) if c.starts_with(b"#!") => self.shebang(c, &found, &argv, proc, depth),
            Some(c) if c.starts_with(b"\x7fELF") => self.terminal(&found, &argv, Launcher::Native),
            None => {
                if found.mode & 0o111 == 0 {
                    self.diag(format!("/{}: not executable", found.real));
                }
                self.terminal(&found, &argv, Launcher::Native)
            }
            Some(_) => {
                self.diag(format!("/{}: neither ELF nor a #! script", found.real));
                self.terminal(&found, &argv, Launcher::Unknown)
            }
        }
    }

    fn terminal(&mut self, found: &Found, argv: &[Arg], launcher: Launcher) {
        self.push_step(Step {
            file: format!("/{}", found.real),
            line: 0,
            command: join_args(argv),
        });
        self.push_terminal(Terminal {
            program: found.real.clone(),
            argv: argv.iter().map(|a| a.show().to_owned()).collect(),
            launcher,
        });
    }

    fn shebang(&mut self, content: &[u8], found: &Found, argv: &[Arg], proc: Proc, depth: usize) {
        let line_end = content
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(content.len());
        let first = String::from_utf8_lossy(content.get(..line_end.min(512)).unwrap_or(&[]))
            .trim_end()
            .to_owned();
        self.push_step(Step {
            file: format!("/{}", found.real),
            line: 1,
            command: first.clone(),
        });
        let spec = first.get(2..).unwrap_or("").trim();
        let mut new_argv: Vec<Arg> = spec.split_whitespace().map(Arg::known).collect();
        if new_argv.is_empty() {
            self.diag(format!("/{}: empty #! line", found.real));
            return;
        }
        // A `#!/usr/bin/env -S …` line: env splits it itself.
        if new_argv.get(1).and_then(|a| a.val.as_deref()) == Some("-S") {
            new_argv.remove(1);
        }
        new_argv.push(Arg::known(&found.path));
        new_argv.extend(argv.iter().skip(1).cloned());
        self.exec(new_argv, proc, depth + 1);
    }

    /// `env`, `tini`, `gosu`, …: the argv they run, or None when `name` is not a wrapper.
    fn unwrap_wrapper(&mut self, name: &str, argv: &[Arg], proc: &mut Proc) -> Option<Vec<Arg>> {
        let args = argv.get(1..).unwrap_or(&[]);
        let val = |i: usize| args.get(i).and_then(|a| a.val.clone());
        let mut i = 0usize;
        match name {
            "env" => {
                while let Some(a) = val(i) {
                    if a == "--" {
                        i += 1;
                        break;
                    } else if a == "-i" || a == "--ignore-environment" || a == "-" {
                        proc.env.clear();
                        i += 1;
                    } else if a == "-u" || a == "--unset" {
                        if let Some(n) = val(i + 1) {
                            proc.env.remove(&n);
                        }
                        i += 2;
                    } else if a == "-C" || a == "--chdir" {
                        if let Some(d) = val(i + 1) {
                            proc.cwd = abs_path(&proc.cwd, &d);
                        }
                        i += 2;
                    } else if a == "-S" || a == "--split-string" {
                        let s = val(i + 1).unwrap_or_default();
                        let mut out: Vec<Arg> = s.split_whitespace().map(Arg::known).collect();
                        out.extend(args.iter().skip(i + 2).cloned());
                        return Some(self.env_assigns(out, proc));
                    } else if let Some(s) = a.strip_prefix("-S") {
                        let mut out: Vec<Arg> = s.split_whitespace().map(Arg::known).collect();
                        out.extend(args.iter().skip(i + 1).cloned());
                        return Some(self.env_assigns(out, proc));
                    } else if a.starts_with('-') && a.len() > 1 {
                        i += 1;
                    } else {
                        break;
                    }
                }
                let rest = args.get(i..).unwrap_or(&[]).to_vec();
                Some(self.env_assigns(rest, proc))
            }
            "tini" | "tini-static" | "catatonit" | "dumb-init" => {
                let with_arg: &[&str] = if name == "dumb-init" {
                    &["-r", "--rewrite"]
                } else {
                    &["-p", "-e"]
                };
                while let Some(a) = val(i) {
                    if a == "--" {
                        i += 1;
                        break;
                    } else if with_arg.contains(&a.as_str()) {
                        i += 2;
                    } else if a.starts_with('-') {
                        i += 1;
                    } else {
                        break;
                    }
                }
                Some(args.get(i..).unwrap_or(&[]).to_vec())
            }
            "gosu" | "su-exec" | "s6-setuidgid" => Some(args.get(1..).unwrap_or(&[]).to_vec()),
            "sudo" | "runuser" | "chpst" => {
                let with_arg: &[&str] = match name {
                    "sudo" => &[
                        "-u", "-g", "-C", "-h", "-p", "-r", "-t", "-U", "-T", "-D", "-R",
                    ],
                    "chpst" => &[
                        "-u", "-U", "-e", "-n", "-l", "-L", "-m", "-d", "-o", "-p", "-f", "-c",
                    ],
                    _ => &["-u", "-g", "-G", "--user", "--group"],
                };
                while let Some(a) = val(i) {
                    if a == "--" {
                        i += 1;
                        break;
                    } else if with_arg.contains(&a.as_str()) {
                        i += 2;
                    } else if a.starts_with('-') {
                        i += 1;
                    } else {
                        break;
                    }
                }
                if name == "runuser" && i == 0 {
                    // `runuser user -c …` is a login shell invocation: not followed.
                    return None;
                }
                Some(args.get(i..).unwrap_or(&[]).to_vec())
            }
            "nohup" | "setsid" | "stdbuf" | "setpriv" | "nice" | "ionice" | "timeout" => {
                let with_arg: &[&str] = match name {
                    "nice" => &["-n", "--adjustment"],
                    "ionice" => &["-c", "-n", "-p", "-t"],
                    "timeout" => &["-s", "--signal", "-k", "--kill-after"],
                    "stdbuf" => &["-i", "-o", "-e"],
                    _ => &[],
                };
                while let Some(a) = val(i) {
                    if a == "--" {
                        i += 1;
                        break;
                    } else if with_arg.contains(&a.as_str()) {
                        i += 2;
                    } else if a.starts_with('-') && a.len() > 1 {
                        i += 1;
                    } else {
                        break;
                    }
                }
                if name == "timeout" {
                    i += 1; // the duration
                }
                Some(args.get(i..).unwrap_or(&[]).to_vec())
            }
            _ => None,
        }
    }

    /// Leading `NAME=value` arguments (of `env`) go into the environment.
    fn env_assigns(&mut self, mut args: Vec<Arg>, proc: &mut Proc) -> Vec<Arg> {
        let mut n = 0;
        for a in &args {
            let Some(v) = &a.val else { break };
            match v.split_once('=') {
                Some((k, val)) if shell::is_name(k) => {
                    proc.env.insert(k.to_owned(), Some(val.to_owned()));
                    n += 1;
                }
                _ => break,
            }
        }
        args.drain(..n);
        args
    }

    /// Absolute path of a file argument; its real path when it exists in the image.
    fn file_arg(&self, p: &str, proc: &Proc) -> (String, bool) {
        let abs = abs_path(&proc.cwd, p);
        match self.stat(&abs) {
            Some((real, _)) => (format!("/{real}"), true),
            None => (abs, false),
        }
    }

    fn java(&mut self, argv: &[Arg], proc: &Proc) -> Launcher {
        let mut jar = None;
        let mut classpath: Vec<String> = Vec::new();
        let mut main_class = None;
        let mut i = 1;
        let val = |i: usize| argv.get(i).and_then(|a| a.val.clone());
        while let Some(a) = val(i) {
            match a.as_str() {
                "-jar" => {
                    if let Some(j) = val(i + 1) {
                        let (p, ok) = self.file_arg(&j, proc);
                        if !ok {
                            self.diag(format!("java -jar {p}: jar not found in the image"));
                        }
                        jar = Some(p);
                    }
                    break;
                }
                "-cp" | "-classpath" | "--class-path" => {
                    if let Some(cp) = val(i + 1) {
                        classpath = self.classpath(&cp, proc);
                    }
                    i += 2;
                }
                "-m" | "--module" => {
                    main_class = val(i + 1);
                    break;
                }
                "-p"
                | "--module-path"
                | "--add-modules"
                | "--add-opens"
                | "--add-exports"
                | "--add-reads"
                | "--patch-module"
                | "--limit-modules"
                | "--upgrade-module-path"
                | "--source" => i += 2,
                s if s.starts_with("--class-path=") => {
                    classpath = self.classpath(s.get(13..).unwrap_or(""), proc);
                    i += 1;
                }
                s if s.starts_with('-') || s.starts_with('@') => i += 1,
                s => {
                    main_class = Some(s.to_owned());
                    break;
                }
            }
        }
        if classpath.is_empty() && jar.is_none() {
            if let Some(Some(cp)) = proc.env.get("CLASSPATH") {
                classpath = self.classpath(&cp.clone(), proc);
            }
        }
        Launcher::Java {
            jar,
            classpath,
            main_class,
        }
    }

    fn classpath(&self, cp: &str, proc: &Proc) -> Vec<String> {
        cp.split(':')
            .filter(|e| !e.is_empty())
            .map(|e| self.file_arg(e, proc).0)
            .collect()
    }

    fn node(&mut self, argv: &[Arg], proc: &Proc) -> Launcher {
        let val = |i: usize| argv.get(i).and_then(|a| a.val.clone());
        let mut i = 1;
        let mut script = None;
        while let Some(a) = val(i) {
            match a.as_str() {
                "-e" | "--eval" | "-p" | "--print" | "-i" | "--interactive" => break,
                "-r"
                | "--require"
                | "--import"
                | "--loader"
                | "--experimental-loader"
                | "-C"
                | "--conditions"
                | "--title"
                | "--env-file"
                | "--inspect-port" => i += 2,
                "--" => {
                    script = val(i + 1);
                    break;
                }
                s if s.starts_with('-') => i += 1,
                s => {
                    script = Some(s.to_owned());
                    break;
                }
            }
        }
        let script = match script {
            Some(s) => {
                let abs = abs_path(&proc.cwd, &s);
                let candidates = [
                    abs.clone(),
                    format!("{abs}.js"),
                    format!("{abs}.mjs"),
                    format!("{abs}.cjs"),
                    format!("{abs}/index.js"),
                ];
                match candidates.iter().find_map(|c| self.stat(c)) {
                    Some((real, _)) => format!("/{real}"),
                    None => {
                        self.diag(format!("node {abs}: script not found in the image"));
                        abs
                    }
                }
            }
            None => String::new(),
        };
        Launcher::Node { script }
    }

    fn python(&mut self, argv: &[Arg], proc: &Proc) -> Launcher {
        let val = |i: usize| argv.get(i).and_then(|a| a.val.clone());
        let mut i = 1;
        let mut module = None;
        let mut script = None;
        while let Some(a) = val(i) {
            match a.as_str() {
                "-m" => {
                    module = val(i + 1);
                    break;
                }
                "-c" | "-" => break,
                "-W" | "-X" | "--check-hash-based-pycs" => i += 2,
                "--" => {
                    script = val(i + 1);
                    break;
                }
                s if s.starts_with("-m") && s.len() > 2 => {
                    module = s.get(2..).map(str::to_owned);
                    break;
                }
                s if s.starts_with('-') => {
                    // `-c` inside a cluster (`-uc`) ends the options like `-c`.
                    if s.contains('c') {
                        break;
                    }
                    i += 1;
                }
                s => {
                    script = Some(s.to_owned());
                    break;
                }
            }
        }
        let script = script.map(|s| {
            let (p, ok) = self.file_arg(&s, proc);
            if !ok {
                self.diag(format!("python {p}: script not found in the image"));
            } else if module.is_none() {
                if let Some(content) = self.fs.read(&p) {
                    module = console_script_module(&content);
                    if module.is_none() && content.windows(17).any(|w| w == b"load_entry_point(") {
                        self.diag(format!(
                            "{p}: setuptools load_entry_point wrapper; module not resolved"
                        ));
                    }
                }
            }
            p
        });
        Launcher::Python { module, script }
    }
}

/// The module of a pip/distlib console_scripts wrapper (`from pkg.mod import main` … `sys.exit(main())`).
pub fn console_script_module(content: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(content.get(..content.len().min(8192))?).ok()?;
    let mut found: Option<(String, String)> = None;
    for line in text.lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("from ") {
            if let Some((module, name)) = rest.split_once(" import ") {
                let module = module.trim();
                let name = name.trim();
                let valid = |s: &str| {
                    !s.is_empty()
                        && s.split('.').all(|p| {
                            !p.is_empty() && p.chars().all(|c| c == '_' || c.is_alphanumeric())
                        })
                };
                if valid(module) && valid(name) && !name.contains('.') {
                    found = Some((module.to_owned(), name.to_owned()));
                }
            }
        } else if let Some((module, name)) = &found {
            if l.contains(&format!("{name}(")) && l.contains("sys.exit") {
                return Some(module.clone());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests;
