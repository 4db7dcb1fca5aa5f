//! EntryTrace (stub until its change lands).
pub mod shell;
/// Config.
#[derive(Debug, Clone, Default)]
pub struct ImageConfig {
    /// e
    pub entrypoint: Vec<String>,
    /// c
    pub cmd: Vec<String>,
    /// w
    pub working_dir: Option<String>,
    /// e
    pub env: Vec<String>,
}
/// FS.
pub trait TraceFs {
    /// s
    fn stat(&self, path: &str) -> Option<(String, u32)>;
    /// r
    fn read(&self, path: &str) -> Option<Vec<u8>>;
}
/// Step.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Step {
    /// f
    pub file: String,
    /// l
    pub line: usize,
    /// c
    pub command: String,
}
/// Launcher.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Launcher {
    /// n
    Native,
    /// j
    Java {
        /// j
        jar: Option<String>,
        /// c
        classpath: Vec<String>,
        /// m
        main_class: Option<String>,
    },
    /// n
    Node {
        /// s
        script: String,
    },
    /// p
    Python {
        /// m
        module: Option<String>,
        /// s
        script: Option<String>,
    },
    /// s
    Shell,
    /// u
    Unknown,
}
/// Terminal.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Terminal {
    /// p
    pub program: String,
    /// a
    pub argv: Vec<String>,
    /// l
    pub launcher: Launcher,
}
/// Trace.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Trace {
    /// c
    pub chain: Vec<Step>,
    /// t
    pub terminals: Vec<Terminal>,
    /// d
    pub diagnostics: Vec<String>,
}
/// Trace.
pub fn trace(config: &ImageConfig, fs: &dyn TraceFs) -> Trace {
    let _ = (config, fs);
    Trace::default()
}
