use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;

/// An in-memory image: files with modes, and symlinks (resolved inside the image).
#[derive(Default)]
struct MemTraceFs {
    files: BTreeMap<String, (Vec<u8>, u32)>,
    links: BTreeMap<String, String>,
}

impl MemTraceFs {
    fn file(mut self, path: &str, content: &[u8], mode: u32) -> Self {
        self.files.insert(
            path.trim_start_matches('/').to_owned(),
            (content.to_vec(), mode),
        );
        self
    }
    fn elf(self, path: &str) -> Self {
        self.file(path, b"\x7fELF\x02\x01\x01", 0o755)
    }
    fn link(mut self, path: &str, target: &str) -> Self {
        self.links
            .insert(path.trim_start_matches('/').to_owned(), target.to_owned());
        self
    }
    fn real(&self, path: &str) -> Option<String> {
        let mut parts: Vec<String> = Vec::new();
        let mut todo: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .rev()
            .map(str::to_owned)
            .collect();
        let mut hops = 0;
        while let Some(seg) = todo.pop() {
            match seg.as_str() {
                "." => continue,
                ".." => {
                    parts.pop();
                    continue;
                }
                _ => {}
            }
            parts.push(seg);
            let cur = parts.join("/");
            if let Some(t) = self.links.get(&cur) {
                hops += 1;
                if hops > 40 {
                    return None;
                }
                parts.pop();
                if t.starts_with('/') {
                    parts.clear();
                }
                todo.extend(
                    t.split('/')
                        .filter(|s| !s.is_empty())
                        .rev()
                        .map(str::to_owned),
                );
            }
        }
        Some(parts.join("/"))
    }
}

impl TraceFs for MemTraceFs {
    fn stat(&self, path: &str) -> Option<(String, u32)> {
        let real = self.real(path)?;
        self.files.get(&real).map(|(_, m)| (real, *m))
    }
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        let real = self.real(path)?;
        self.files.get(&real).map(|(c, _)| c.clone())
    }
}

/// A rootfs directory on disk; symlinks resolved inside the root, never on the host.
struct DirTraceFs(PathBuf);

impl DirTraceFs {
    fn real(&self, path: &str) -> Option<String> {
        let mut parts: Vec<String> = Vec::new();
        let mut todo: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .rev()
            .map(str::to_owned)
            .collect();
        let mut hops = 0;
        while let Some(seg) = todo.pop() {
            match seg.as_str() {
                "." => continue,
                ".." => {
                    parts.pop();
                    continue;
                }
                _ => {}
            }
            parts.push(seg);
            let host = self.0.join(parts.join("/"));
            let meta = std::fs::symlink_metadata(&host).ok()?;
            if meta.file_type().is_symlink() {
                hops += 1;
                if hops > 40 {
                    return None;
                }
                let t = std::fs::read_link(&host).ok()?;
                let t = t.to_string_lossy().into_owned();
                parts.pop();
                if t.starts_with('/') {
                    parts.clear();
                }
                todo.extend(
                    t.split('/')
                        .filter(|s| !s.is_empty())
                        .rev()
                        .map(str::to_owned),
                );
            }
        }
        Some(parts.join("/"))
    }
}

impl TraceFs for DirTraceFs {
    fn stat(&self, path: &str) -> Option<(String, u32)> {
        use std::os::unix::fs::PermissionsExt;
        let real = self.real(path)?;
        let meta = std::fs::symlink_metadata(self.0.join(&real)).ok()?;
        meta.is_file()
            .then(|| (real, meta.permissions().mode() & 0o7777))
    }
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        let real = self.real(path)?;
        let p = self.0.join(real);
        let meta = std::fs::metadata(&p).ok()?;
        if !meta.is_file() || meta.len() > 1 << 20 {
            return None;
        }
        std::fs::read(p).ok()
    }
}

fn chain(t: &Trace) -> Vec<String> {
    t.chain
        .iter()
        .map(|s| format!("{}:{}: {}", s.file, s.line, s.command))
        .collect()
}

fn cfg(entrypoint: &[&str], cmd: &[&str], wd: Option<&str>, env: &[&str]) -> ImageConfig {
    let v = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    ImageConfig {
        entrypoint: v(entrypoint),
        cmd: v(cmd),
        working_dir: wd.map(str::to_owned),
        env: v(env),
    }
}

fn native(program: &str, argv: &[&str]) -> Terminal {
    Terminal {
        program: program.to_owned(),
        argv: argv.iter().map(|s| (*s).to_owned()).collect(),
        launcher: Launcher::Native,
    }
}

const PG_SCRIPT: &[u8] =
    include_bytes!("../../tests/fixtures/entrytrace/scripts/postgres/docker-entrypoint.sh");
const REDIS_SCRIPT: &[u8] =
    include_bytes!("../../tests/fixtures/entrytrace/scripts/redis/docker-entrypoint.sh");
const NODE_SCRIPT: &[u8] =
    include_bytes!("../../tests/fixtures/entrytrace/scripts/node/docker-entrypoint.sh");
const JAVA_SCRIPT: &[u8] = include_bytes!("../../tests/fixtures/entrytrace/scripts/java/start.sh");
const PY_SCRIPT: &[u8] =
    include_bytes!("../../tests/fixtures/entrytrace/scripts/python/entrypoint.sh");

fn base() -> MemTraceFs {
    MemTraceFs::default()
        .link("bin", "usr/bin")
        .link("sbin", "usr/sbin")
        .elf("usr/bin/dash")
        .link("usr/bin/sh", "dash")
        .elf("usr/bin/env")
        .elf("usr/bin/bash")
}

const PG_PATH: &str =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/postgresql/16/bin";

fn postgres_fs() -> MemTraceFs {
    base()
        .file("usr/local/bin/docker-entrypoint.sh", PG_SCRIPT, 0o755)
        .link("docker-entrypoint.sh", "usr/local/bin/docker-entrypoint.sh")
        .elf("usr/local/bin/gosu")
        .elf("usr/lib/postgresql/16/bin/postgres")
}

fn postgres_expect(t: &Trace, first: &str) {
    assert_eq!(
        chain(t),
        vec![
            format!("<image config>:0: {first}"),
            "/usr/local/bin/docker-entrypoint.sh:1: #!/usr/bin/env bash".to_owned(),
            "/usr/bin/env:0: /usr/bin/env bash /usr/local/bin/docker-entrypoint.sh postgres"
                .to_owned(),
            "/usr/local/bin/docker-entrypoint.sh:94: _main \"$@\"".to_owned(),
            "/usr/local/bin/docker-entrypoint.sh:77: exec gosu postgres \"$BASH_SOURCE\" \"$@\""
                .to_owned(),
            "/usr/local/bin/gosu:0: gosu postgres /usr/local/bin/docker-entrypoint.sh postgres"
                .to_owned(),
            "/usr/local/bin/docker-entrypoint.sh:90: exec \"$@\"".to_owned(),
            "/usr/lib/postgresql/16/bin/postgres:0: postgres".to_owned(),
        ],
        "{t:#?}"
    );
    assert_eq!(
        t.terminals,
        vec![native("usr/lib/postgresql/16/bin/postgres", &["postgres"])]
    );
}

#[test]
fn postgres_exec_chain() {
    let fs = postgres_fs();
    let t = trace(
        &cfg(
            &["docker-entrypoint.sh"],
            &["postgres"],
            None,
            &[PG_PATH, "PGDATA=/var/lib/postgresql/data"],
        ),
        &fs,
    );
    postgres_expect(&t, "docker-entrypoint.sh postgres");
    assert!(
        t.diagnostics
            .iter()
            .any(|d| d.contains("runs itself again")),
        "{:?}",
        t.diagnostics
    );
}

#[test]
fn postgres_flag_first_argument_prepends_postgres() {
    let fs = postgres_fs();
    let t = trace(
        &cfg(
            &["docker-entrypoint.sh"],
            &["-c", "shared_buffers=256MB"],
            None,
            &[PG_PATH],
        ),
        &fs,
    );
    assert_eq!(
        t.terminals,
        vec![native(
            "usr/lib/postgresql/16/bin/postgres",
            &["postgres", "-c", "shared_buffers=256MB"]
        )]
    );
    // `--help` is not a server start: straight to `exec "$@"` (postgres --help).
    let t = trace(
        &cfg(
            &["docker-entrypoint.sh"],
            &["postgres", "--help"],
            None,
            &[PG_PATH],
        ),
        &fs,
    );
    assert_eq!(
        chain(&t).get(3..).map(<[String]>::to_vec),
        Some(vec![
            "/usr/local/bin/docker-entrypoint.sh:94: _main \"$@\"".to_owned(),
            "/usr/local/bin/docker-entrypoint.sh:90: exec \"$@\"".to_owned(),
            "/usr/lib/postgresql/16/bin/postgres:0: postgres --help".to_owned(),
        ])
    );
}

fn redis_fs() -> MemTraceFs {
    base()
        .file("usr/local/bin/docker-entrypoint.sh", REDIS_SCRIPT, 0o755)
        .elf("usr/local/bin/gosu")
        .elf("usr/local/bin/redis-server")
}

#[test]
fn redis_exec_chain_with_conf_argument() {
    let fs = redis_fs();
    let t = trace(
        &cfg(
            &["docker-entrypoint.sh"],
            &["/usr/local/etc/redis/redis.conf"],
            Some("/data"),
            &[],
        ),
        &fs,
    );
    assert_eq!(
        chain(&t),
        vec![
            "<image config>:0: docker-entrypoint.sh /usr/local/etc/redis/redis.conf",
            "/usr/local/bin/docker-entrypoint.sh:1: #!/bin/sh",
            "/usr/local/bin/docker-entrypoint.sh:14: exec gosu redis \"$0\" \"$@\"",
            "/usr/local/bin/gosu:0: gosu redis /usr/local/bin/docker-entrypoint.sh redis-server /usr/local/etc/redis/redis.conf",
            "/usr/local/bin/docker-entrypoint.sh:25: exec \"$@\"",
            "/usr/local/bin/redis-server:0: redis-server /usr/local/etc/redis/redis.conf",
        ],
        "{t:#?}"
    );
    assert_eq!(
        t.terminals,
        vec![native(
            "usr/local/bin/redis-server",
            &["redis-server", "/usr/local/etc/redis/redis.conf"]
        )]
    );
}

fn node_fs() -> MemTraceFs {
    base()
        .file("usr/local/bin/docker-entrypoint.sh", NODE_SCRIPT, 0o755)
        .elf("usr/bin/tini")
        .elf("usr/local/bin/node")
        .file("app/server.js", b"require('http')\n", 0o644)
}

#[test]
fn node_entrypoint_picks_node_for_a_script_argument() {
    let fs = node_fs();
    let t = trace(
        &cfg(
            &["/usr/bin/tini", "--", "docker-entrypoint.sh"],
            &["server.js"],
            Some("/app"),
            &[],
        ),
        &fs,
    );
    assert_eq!(
        chain(&t),
        vec![
            "<image config>:0: /usr/bin/tini -- docker-entrypoint.sh server.js",
            "/usr/bin/tini:0: /usr/bin/tini -- docker-entrypoint.sh server.js",
            "/usr/local/bin/docker-entrypoint.sh:1: #!/bin/sh",
            "/usr/local/bin/docker-entrypoint.sh:11: exec \"$@\"",
            "/usr/local/bin/node:0: node server.js",
        ],
        "{t:#?}"
    );
    assert_eq!(
        t.terminals,
        vec![Terminal {
            program: "usr/local/bin/node".into(),
            argv: vec!["node".into(), "server.js".into()],
            launcher: Launcher::Node {
                script: "/app/server.js".into()
            },
        }]
    );
    // A system command as the first argument runs as is.
    let fs = fs.elf("usr/bin/npm");
    let t = trace(
        &cfg(
            &["docker-entrypoint.sh"],
            &["npm", "start"],
            Some("/app"),
            &[],
        ),
        &fs,
    );
    assert_eq!(t.terminals, vec![native("usr/bin/npm", &["npm", "start"])]);
}

fn java_fs() -> MemTraceFs {
    base()
        .elf("usr/lib/jvm/java-17-openjdk-amd64/bin/java")
        .link(
            "etc/alternatives/java",
            "/usr/lib/jvm/java-17-openjdk-amd64/bin/java",
        )
        .link("usr/bin/java", "/etc/alternatives/java")
        .file("opt/app/bin/start.sh", JAVA_SCRIPT, 0o755)
        .file("opt/app/lib/app.jar", b"PK\x03\x04", 0o644)
        .file("opt/app/lib/guava.jar", b"PK\x03\x04", 0o644)
}

#[test]
fn java_jar_via_shell_form() {
    let fs = java_fs();
    let t = trace(
        &cfg(
            &[
                "/bin/sh",
                "-c",
                "exec java $JAVA_OPTS -jar app.jar --server.port=8080",
            ],
            &[],
            Some("/opt/app/lib"),
            &["JAVA_OPTS=-Xmx512m -XX:+UseG1GC"],
        ),
        &fs,
    );
    assert_eq!(
        chain(&t),
        vec![
            "<image config>:0: /bin/sh -c 'exec java $JAVA_OPTS -jar app.jar --server.port=8080'",
            "/usr/bin/dash:1: exec java $JAVA_OPTS -jar app.jar --server.port=8080",
            "/usr/lib/jvm/java-17-openjdk-amd64/bin/java:0: java -Xmx512m -XX:+UseG1GC -jar app.jar --server.port=8080",
        ],
        "{t:#?}"
    );
    assert_eq!(
        t.terminals,
        vec![Terminal {
            program: "usr/lib/jvm/java-17-openjdk-amd64/bin/java".into(),
            argv: [
                "java",
                "-Xmx512m",
                "-XX:+UseG1GC",
                "-jar",
                "app.jar",
                "--server.port=8080"
            ]
            .map(String::from)
            .to_vec(),
            launcher: Launcher::Java {
                jar: Some("/opt/app/lib/app.jar".into()),
                classpath: vec![],
                main_class: None
            },
        }]
    );
}

#[test]
fn java_classpath_via_env_bash_dash_e_script() {
    let fs = java_fs();
    let t = trace(
        &cfg(&["/opt/app/bin/start.sh"], &["--verbose"], None, &[]),
        &fs,
    );
    assert_eq!(
        chain(&t),
        vec![
            "<image config>:0: /opt/app/bin/start.sh --verbose",
            "/opt/app/bin/start.sh:1: #!/usr/bin/env bash -e",
            "/usr/bin/env:0: /usr/bin/env bash -e /opt/app/bin/start.sh --verbose",
            "/opt/app/bin/start.sh:14: exec \"$JAVACMD\" -Xmx64m -cp \"$CLASSPATH\" com.example.Main \"$@\"",
            "/usr/lib/jvm/java-17-openjdk-amd64/bin/java:0: java -Xmx64m -cp /opt/app/lib/app.jar:/opt/app/lib/guava.jar com.example.Main --verbose",
        ],
        "{t:#?}"
    );
    assert_eq!(
        t.terminals.first().map(|t| t.launcher.clone()),
        Some(Launcher::Java {
            jar: None,
            classpath: vec![
                "/opt/app/lib/app.jar".into(),
                "/opt/app/lib/guava.jar".into()
            ],
            main_class: Some("com.example.Main".into())
        })
    );
}

const FLASK_WRAPPER: &[u8] = b"#!/usr/bin/python3\n# -*- coding: utf-8 -*-\nimport re\nimport sys\nfrom flask.cli import main\nif __name__ == '__main__':\n    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n    sys.exit(main())\n";

fn python_fs() -> MemTraceFs {
    base()
        .elf("usr/bin/python3.11")
        .link("usr/bin/python3", "python3.11")
        .file("usr/local/bin/flask", FLASK_WRAPPER, 0o755)
        .file("usr/local/bin/entrypoint.sh", PY_SCRIPT, 0o755)
        .file("app/app.py", b"print('hello')\n", 0o644)
}

fn python_term(argv: &[&str], module: Option<&str>, script: Option<&str>) -> Terminal {
    Terminal {
        program: "usr/bin/python3.11".into(),
        argv: argv.iter().map(|s| (*s).to_owned()).collect(),
        launcher: Launcher::Python {
            module: module.map(str::to_owned),
            script: script.map(str::to_owned),
        },
    }
}

#[test]
fn python_console_script_and_module() {
    let fs = python_fs();
    let t = trace(&cfg(&[], &["flask", "run"], None, &[]), &fs);
    assert_eq!(
        chain(&t),
        vec![
            "<image config>:0: flask run",
            "/usr/local/bin/flask:1: #!/usr/bin/python3",
            "/usr/bin/python3.11:0: /usr/bin/python3 /usr/local/bin/flask run",
        ]
    );
    assert_eq!(
        t.terminals,
        vec![python_term(
            &["/usr/bin/python3", "/usr/local/bin/flask", "run"],
            Some("flask.cli"),
            Some("/usr/local/bin/flask")
        )]
    );
    let t = trace(
        &cfg(
            &["python3", "-u", "-m", "http.server"],
            &["8000"],
            None,
            &[],
        ),
        &fs,
    );
    assert_eq!(
        t.terminals,
        vec![python_term(
            &["python3", "-u", "-m", "http.server", "8000"],
            Some("http.server"),
            None
        )]
    );
    let t = trace(&cfg(&["python3"], &["app.py"], Some("/app"), &[]), &fs);
    assert_eq!(
        t.terminals,
        vec![python_term(
            &["python3", "app.py"],
            None,
            Some("/app/app.py")
        )]
    );
}

#[test]
fn case_on_unknown_value_records_every_branch() {
    let fs = python_fs();
    let t = trace(
        &cfg(
            &["entrypoint.sh"],
            &["python3", "app.py"],
            Some("/app"),
            &[],
        ),
        &fs,
    );
    assert_eq!(
        chain(&t),
        vec![
            "<image config>:0: entrypoint.sh python3 app.py",
            "/usr/local/bin/entrypoint.sh:1: #!/bin/sh",
            "/usr/local/bin/entrypoint.sh:8: exec flask --app hello run --host 0.0.0.0",
            "/usr/local/bin/flask:1: #!/usr/bin/python3",
            "/usr/bin/python3.11:0: /usr/bin/python3 /usr/local/bin/flask --app hello run --host 0.0.0.0",
            "/usr/local/bin/entrypoint.sh:12: exec python3 -m http.server 8000",
            "/usr/bin/python3.11:0: python3 -m http.server 8000",
            "/usr/local/bin/entrypoint.sh:15: exec \"$@\"",
            "/usr/bin/python3.11:0: python3 app.py",
        ],
        "{t:#?}"
    );
    assert_eq!(
        t.terminals,
        vec![
            python_term(
                &[
                    "/usr/bin/python3",
                    "/usr/local/bin/flask",
                    "--app",
                    "hello",
                    "run",
                    "--host",
                    "0.0.0.0"
                ],
                Some("flask.cli"),
                Some("/usr/local/bin/flask")
            ),
            python_term(
                &["python3", "-m", "http.server", "8000"],
                Some("http.server"),
                None
            ),
            python_term(&["python3", "app.py"], None, Some("/app/app.py")),
        ]
    );
}

#[test]
fn wrappers_env_gosu_su_exec_sudo_dumb_init() {
    let fs = base()
        .elf("usr/bin/gosu")
        .elf("usr/sbin/su-exec")
        .elf("usr/bin/sudo")
        .elf("usr/bin/dumb-init")
        .elf("usr/local/bin/app");
    let t = trace(
        &cfg(
            &[
                "dumb-init",
                "--rewrite",
                "15:2",
                "--",
                "env",
                "-u",
                "X",
                "A=1",
                "gosu",
                "nobody",
                "su-exec",
                "app:app",
                "sudo",
                "-E",
                "-u",
                "app",
                "app",
            ],
            &["--flag"],
            None,
            &[],
        ),
        &fs,
    );
    let files: Vec<&str> = t.chain.iter().map(|s| s.file.as_str()).collect();
    assert_eq!(
        files,
        vec![
            "<image config>",
            "/usr/bin/dumb-init",
            "/usr/bin/env",
            "/usr/bin/gosu",
            "/usr/sbin/su-exec",
            "/usr/bin/sudo",
            "/usr/local/bin/app"
        ]
    );
    assert_eq!(
        t.terminals,
        vec![native("usr/local/bin/app", &["app", "--flag"])]
    );
}

#[test]
fn sh_c_with_functions_source_and_variables() {
    let lib = b"start_app() {\n  cd \"$APP_DIR\"\n  exec ./run \"$@\"\n}\n";
    let fs = base().file("etc/app/lib.sh", lib, 0o644).elf("srv/app/run");
    let script = "APP_DIR=/srv/app\n. /etc/app/lib.sh\nMODE=${MODE:-prod}\nif [ \"$MODE\" = prod ]; then start_app --prod \"$@\"; fi\necho unreachable\n";
    let t = trace(
        &cfg(&["/bin/sh", "-c", script, "sh", "x"], &[], None, &[]),
        &fs,
    );
    assert_eq!(
        chain(&t).get(1..).map(<[String]>::to_vec),
        Some(vec![
            "/usr/bin/dash:4: start_app --prod \"$@\"".to_owned(),
            "/etc/app/lib.sh:3: exec ./run \"$@\"".to_owned(),
            "/srv/app/run:0: ./run --prod x".to_owned(),
        ]),
        "{t:#?}"
    );
    assert_eq!(
        t.terminals,
        vec![native("srv/app/run", &["./run", "--prod", "x"])]
    );
}

#[test]
fn last_command_without_exec_is_the_terminal() {
    let script = b"#!/bin/sh\nset -e\nmkdir -p /run/app\nchown app /run/app\nnode /srv/index.js\n";
    let fs = base()
        .file("start.sh", script, 0o755)
        .elf("usr/bin/mkdir")
        .elf("usr/bin/chown")
        .elf("usr/bin/node")
        .file("srv/index.js", b"", 0o644);
    let t = trace(&cfg(&["/start.sh"], &[], None, &[]), &fs);
    assert_eq!(
        chain(&t),
        vec![
            "<image config>:0: /start.sh",
            "/start.sh:1: #!/bin/sh",
            "/start.sh:5: node /srv/index.js",
            "/usr/bin/node:0: node /srv/index.js",
        ]
    );
    assert_eq!(
        t.terminals.first().map(|t| t.launcher.clone()),
        Some(Launcher::Node {
            script: "/srv/index.js".into()
        })
    );
}

#[test]
fn unresolvable_things_become_diagnostics() {
    let fs = base();
    // Missing program.
    let t = trace(&cfg(&["nope"], &[], None, &[]), &fs);
    assert!(t.terminals.is_empty());
    assert!(
        t.diagnostics.iter().any(|d| d.contains("nope: not found")),
        "{:?}",
        t.diagnostics
    );
    // Unknown program from a substitution: the shell itself is the terminal.
    let t = trace(
        &cfg(&["sh", "-c", "exec $(cat /etc/cmd)"], &[], None, &[]),
        &fs,
    );
    assert!(
        t.diagnostics
            .iter()
            .any(|d| d.contains("not known statically")),
        "{:?}",
        t.diagnostics
    );
    assert_eq!(
        t.terminals,
        vec![Terminal {
            program: "usr/bin/dash".into(),
            argv: vec!["sh".into(), "-c".into(), "exec $(cat /etc/cmd)".into()],
            launcher: Launcher::Shell
        }]
    );
    // Nothing at all.
    let t = trace(&ImageConfig::default(), &fs);
    assert_eq!(t.chain, vec![]);
    assert_eq!(t.diagnostics.len(), 1);
    // A script that runs itself forever is bounded.
    let fs = base().file("loop.sh", b"#!/bin/sh\nexec /loop.sh \"$@\" x\n", 0o755);
    let t = trace(&cfg(&["/loop.sh"], &[], None, &[]), &fs);
    assert!(t.terminals.is_empty());
    assert!(
        t.diagnostics.iter().any(|d| d.contains("deeper than")),
        "{:?}",
        t.diagnostics
    );
    // A text file without `#!`: Unknown.
    let fs2 = base().file("usr/local/bin/tool", b"just text\n", 0o755);
    let t = trace(&cfg(&["tool"], &["x"], None, &[]), &fs2);
    assert_eq!(
        t.terminals,
        vec![Terminal {
            program: "usr/local/bin/tool".into(),
            argv: vec!["tool".into(), "x".into()],
            launcher: Launcher::Unknown
        }]
    );
    // A non-executable file is not found through PATH.
    let fs2 = base().file("usr/local/bin/tool", b"\x7fELF", 0o644);
    let t = trace(&cfg(&["tool"], &[], None, &[]), &fs2);
    assert!(t.terminals.is_empty());
    // Symlink loops.
    let fs = base().link("a", "b").link("b", "a");
    let t = trace(&cfg(&["/a"], &[], None, &[]), &fs);
    assert!(t.terminals.is_empty());
}

#[test]
fn expansion_table() {
    // Each script ends in `exec /bin/prog ARGS`; the argv after /bin/prog is compared.
    let cases: &[(&str, &[&str])] = &[
        ("x='a b'; exec /bin/prog $x \"$x\"", &["a", "b", "a b"]),
        ("set -- 1 2 3; shift; exec /bin/prog \"$@\" \"$#\"", &["2", "3", "2"]),
        ("set -- 'a b' c; exec /bin/prog \"$*\" $@", &["a b c", "a", "b", "c"]),
        ("exec /bin/prog ${U:-def} ${U-unset} ${E:+alt} \"${E:+alt}\"", &["def", "unset", ""]),
        ("E=; exec /bin/prog \"${E-x}\" \"${E:-y}\" ${Z:=zz} $Z", &["", "y", "zz", "zz"]),
        ("p=/usr/lib/app.conf; exec /bin/prog ${p#*/} ${p##*/} ${p%.*} ${p%%/lib*} ${#p}", &["usr/lib/app.conf", "app.conf", "/usr/lib/app", "/usr", "17"]),
        ("v=hello; n=v; exec /bin/prog ${v:1:3} ${v: -2} ${!n} ${v^^}", &["ell", "lo", "hello", "HELLO"]),
        ("case x.conf in *.txt) a=1;; *.conf|*.ini) a=2;; esac; exec /bin/prog $a", &["2"]),
        ("for i in a b; do last=$i; done; exec /bin/prog $last", &["b"]),
        ("i=0; while [ $i != 3 ]; do case $i in 0) i=1;; 1) i=2;; 2) i=3;; esac; done; exec /bin/prog $i", &["3"]),
        ("[ -n \"\" ] && exec /bin/other; exec /bin/prog ok", &["ok"]),
        ("test 3 -gt 2 -a x = x || exit 1; exec /bin/prog yes", &["yes"]),
        ("[[ abc == a* && -z '' ]] && exec /bin/prog dbl", &["dbl"]),
        ("f() { return 1; }; if f; then exec /bin/other; else exec /bin/prog else; fi", &["else"]),
        ("exec /bin/prog $(dirname /a/b/c) $(basename /a/b/c) \"$(echo hi there)\" $((7))", &["/a/b", "c", "hi there", "7"]),
        ("eval 'exec /bin/prog evaluated'", &["evaluated"]),
        ("X=1 exec /bin/prog \"$X\"", &[""]),
        ("exec -a name /bin/prog z", &["z"]),
        ("PATH=/opt/bin; exec prog2 p", &["p"]),
        ("for f in /d/*.sh; do [ -f \"$f\" ] && . \"$f\"; done; exec /bin/prog g", &["g"]),
    ];
    let fs = base()
        .elf("usr/bin/prog")
        .elf("usr/bin/other")
        .link("opt/bin/prog2", "/usr/bin/prog");
    for (script, want) in cases {
        let t = trace(&cfg(&["/bin/sh", "-c", script], &[], None, &[]), &fs);
        let argv0 = if script.contains("prog2") {
            "prog2"
        } else {
            "/bin/prog"
        };
        let mut expected = vec![argv0.to_owned()];
        expected.extend(want.iter().map(|s| (*s).to_owned()));
        assert_eq!(
            t.terminals,
            vec![Terminal {
                program: "usr/bin/prog".into(),
                argv: expected,
                launcher: Launcher::Native
            }],
            "{script}: {:?}",
            t.diagnostics
        );
    }
}

#[test]
fn console_script_detection() {
    assert_eq!(
        console_script_module(FLASK_WRAPPER).as_deref(),
        Some("flask.cli")
    );
    let gunicorn = b"#!/usr/local/bin/python3.12\nimport sys\nfrom gunicorn.app.wsgiapp import run\nif __name__ == '__main__':\n    sys.argv[0] = sys.argv[0].removesuffix('.exe')\n    sys.exit(run())\n";
    assert_eq!(
        console_script_module(gunicorn).as_deref(),
        Some("gunicorn.app.wsgiapp")
    );
    assert_eq!(console_script_module(b"print('x')\n"), None);
    assert_eq!(console_script_module(b"\xff\xfe"), None);
}

#[test]
fn hostile_scripts_are_bounded() {
    let fs = base();
    let scripts = [
        "f() { f; }; f",
        "while true; do :; done",
        "while true; do if [ \"$(x)\" = 1 ]; then a=1; else a=2; fi; done",
        "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do case \"$(x)\" in a) v$i=1;; esac; done",
        "eval 'eval \"eval x\"'",
        "a() { b; b; }; b() { c; c; }; c() { d; d; }; d() { e; e; }; e() { :; }; a; a; a",
    ];
    for s in scripts {
        let t = trace(&cfg(&["sh", "-c", s], &[], None, &[]), &fs);
        assert!(t.chain.len() <= MAX_STEPS);
    }
    // Functions whose bodies nest 60 groups deep, each calling the next: the walker's nesting bound
    // holds on a test thread's stack.
    let mut s = String::new();
    for i in 0..40 {
        s.push_str(&format!(
            "f{i}() {{ {} f{} {} }}\n",
            "{ ".repeat(60),
            i + 1,
            "; }".repeat(60)
        ));
    }
    s.push_str("f0\n");
    assert_eq!(shell::parse(s.as_bytes()).error, None);
    let t = trace(&cfg(&["sh", "-c", &s], &[], None, &[]), &fs);
    assert!(
        t.diagnostics.iter().any(|d| d.contains("nested deeper")),
        "{:?}",
        t.diagnostics
    );
}

#[test]
fn background_job_waited_for_is_the_program() {
    let script =
        b"#!/bin/sh\ntrap 'kill -TERM $PID' TERM INT\njava -jar /app.jar &\nPID=$!\nwait $PID\n";
    let fs = java_fs()
        .file("run.sh", script, 0o755)
        .file("app.jar", b"PK", 0o644);
    let t = trace(&cfg(&["/run.sh"], &[], None, &[]), &fs);
    assert_eq!(
        chain(&t).get(2..).map(<[String]>::to_vec),
        Some(vec![
            "/run.sh:3: java -jar /app.jar".to_owned(),
            "/usr/lib/jvm/java-17-openjdk-amd64/bin/java:0: java -jar /app.jar".to_owned()
        ]),
        "{t:#?}"
    );
    // A later foreground program wins over a sidecar in the background.
    let fs = base()
        .elf("usr/sbin/nginx")
        .elf("usr/bin/node")
        .file("a.js", b"", 0o644);
    let t = trace(
        &cfg(
            &["sh", "-c", "nginx -g 'daemon off;' & node /a.js"],
            &[],
            None,
            &[],
        ),
        &fs,
    );
    assert_eq!(t.terminals.len(), 1);
    assert_eq!(
        t.terminals.first().map(|t| t.program.as_str()),
        Some("usr/bin/node")
    );
}

#[test]
fn pipeline_first_command_is_the_program() {
    let fs = base()
        .elf("usr/bin/node")
        .elf("usr/bin/tee")
        .file("app.js", b"", 0o644);
    let t = trace(
        &cfg(
            &["sh", "-c", "node /app.js 2>&1 | tee /tmp/log"],
            &[],
            None,
            &[],
        ),
        &fs,
    );
    assert_eq!(
        chain(&t).get(1..).map(<[String]>::to_vec),
        Some(vec![
            "/usr/bin/dash:1: node /app.js 2>&1".to_owned(),
            "/usr/bin/node:0: node /app.js".to_owned()
        ])
    );
}

fn fixtures() -> PathBuf {
    std::env::var_os("STELLA_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fixtures"))
        .join("entrytrace")
}

fn fixture(tree: &str) -> Option<DirTraceFs> {
    let root = fixtures().join(tree);
    if root.is_dir() {
        return Some(DirTraceFs(root));
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "fixture {} missing: run scanner-core/tests/fixtures/entrytrace/build.sh",
        root.display()
    );
    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "skipped: build the fixture with scanner-core/tests/fixtures/entrytrace/build.sh"
        );
    }
    None
}

#[test]
fn fixture_postgres() {
    let Some(fs) = fixture("postgres") else {
        return;
    };
    let t = trace(
        &cfg(
            &["docker-entrypoint.sh"],
            &["postgres"],
            None,
            &[PG_PATH, "PGDATA=/var/lib/postgresql/data"],
        ),
        &fs,
    );
    postgres_expect(&t, "docker-entrypoint.sh postgres");
    // The compat symlink at / resolves to the same script.
    let t = trace(
        &cfg(&["/docker-entrypoint.sh"], &["postgres"], None, &[PG_PATH]),
        &fs,
    );
    assert_eq!(
        t.terminals,
        vec![native("usr/lib/postgresql/16/bin/postgres", &["postgres"])]
    );
}

#[test]
fn fixture_redis() {
    let Some(fs) = fixture("redis") else { return };
    let t = trace(
        &cfg(
            &["docker-entrypoint.sh"],
            &["redis-server"],
            Some("/data"),
            &[],
        ),
        &fs,
    );
    assert_eq!(
        chain(&t),
        vec![
            "<image config>:0: docker-entrypoint.sh redis-server",
            "/usr/local/bin/docker-entrypoint.sh:1: #!/bin/sh",
            "/usr/local/bin/docker-entrypoint.sh:14: exec gosu redis \"$0\" \"$@\"",
            "/usr/local/bin/gosu:0: gosu redis /usr/local/bin/docker-entrypoint.sh redis-server",
            "/usr/local/bin/docker-entrypoint.sh:25: exec \"$@\"",
            "/usr/local/bin/redis-server:0: redis-server",
        ],
        "{t:#?}"
    );
    assert_eq!(
        t.terminals,
        vec![native("usr/local/bin/redis-server", &["redis-server"])]
    );
}

#[test]
fn fixture_node() {
    let Some(fs) = fixture("node") else { return };
    let t = trace(
        &cfg(
            &["/usr/bin/tini", "--", "docker-entrypoint.sh"],
            &["server.js"],
            Some("/app"),
            &[],
        ),
        &fs,
    );
    assert_eq!(
        t.terminals,
        vec![Terminal {
            program: "usr/local/bin/node".into(),
            argv: vec!["node".into(), "server.js".into()],
            launcher: Launcher::Node {
                script: "/app/server.js".into()
            },
        }]
    );
    assert_eq!(chain(&t).len(), 5);
}

#[test]
fn fixture_java() {
    let Some(fs) = fixture("java") else { return };
    let t = trace(&cfg(&["/opt/app/bin/start.sh"], &[], None, &[]), &fs);
    assert_eq!(
        t.terminals,
        vec![Terminal {
            program: "usr/lib/jvm/java-17-openjdk-amd64/bin/java".into(),
            argv: [
                "java",
                "-Xmx64m",
                "-cp",
                "/opt/app/lib/app.jar:/opt/app/lib/guava.jar",
                "com.example.Main"
            ]
            .map(String::from)
            .to_vec(),
            launcher: Launcher::Java {
                jar: None,
                classpath: vec![
                    "/opt/app/lib/app.jar".into(),
                    "/opt/app/lib/guava.jar".into()
                ],
                main_class: Some("com.example.Main".into())
            },
        }],
        "{t:#?}"
    );
    let t = trace(
        &cfg(&["java", "-jar", "/opt/app/lib/app.jar"], &[], None, &[]),
        &fs,
    );
    assert_eq!(
        t.terminals.first().map(|t| t.launcher.clone()),
        Some(Launcher::Java {
            jar: Some("/opt/app/lib/app.jar".into()),
            classpath: vec![],
            main_class: None
        })
    );
}

#[test]
fn fixture_python_pip_console_script() {
    let Some(fs) = fixture("python") else { return };
    // The wrapper pip generated.
    let flask = fs.read("usr/local/bin/flask").unwrap_or_default();
    assert!(flask.starts_with(b"#!/usr/bin/python3\n"));
    let t = trace(&cfg(&[], &["flask", "run"], None, &[]), &fs);
    assert_eq!(
        t.terminals,
        vec![python_term(
            &["/usr/bin/python3", "/usr/local/bin/flask", "run"],
            Some("flask.cli"),
            Some("/usr/local/bin/flask")
        )]
    );
    let t = trace(
        &cfg(
            &["entrypoint.sh"],
            &["python3", "app.py"],
            Some("/app"),
            &[],
        ),
        &fs,
    );
    assert_eq!(t.terminals.len(), 3, "{t:#?}");
}

#[test]
fn corpus_app_image() {
    let root = Path::new("/work/main/target/corpus/rootfs/app");
    if !root.is_dir() {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("skipped: corpus rootfs /work/main/target/corpus/rootfs/app not present");
        }
        return;
    }
    let fs = DirTraceFs(root.to_path_buf());
    let t = trace(
        &cfg(
            &["/usr/bin/node"],
            &["/srv/app/index.js"],
            Some("/srv/app"),
            &[],
        ),
        &fs,
    );
    let node_real = fs.real("usr/bin/node").unwrap_or_default();
    assert_eq!(
        t.terminals,
        vec![Terminal {
            program: node_real.clone(),
            argv: vec!["/usr/bin/node".into(), "/srv/app/index.js".into()],
            launcher: Launcher::Node {
                script: "/srv/app/index.js".into()
            },
        }],
        "{t:#?}"
    );
    assert_eq!(
        chain(&t),
        vec![
            "<image config>:0: /usr/bin/node /srv/app/index.js".to_owned(),
            format!("/{node_real}:0: /usr/bin/node /srv/app/index.js"),
        ]
    );
}

/// Runs `shell -n` on `src`; None when the shell is not installed.
fn shell_accepts(shell: &str, src: &str) -> Option<bool> {
    let out = std::process::Command::new(shell)
        .arg("-n")
        .arg("-c")
        .arg(src)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .ok()?;
    Some(out.success())
}

#[test]
fn parser_agrees_with_dash_and_bash() {
    let scripts: &[(&str, &[u8])] = &[
        ("bash", PG_SCRIPT),
        ("dash", REDIS_SCRIPT),
        ("dash", NODE_SCRIPT),
        ("bash", JAVA_SCRIPT),
        ("dash", PY_SCRIPT),
    ];
    for (sh, src) in scripts {
        let text = String::from_utf8_lossy(src);
        let p = shell::parse(src);
        assert_eq!(p.error, None);
        if let Some(ok) = shell_accepts(sh, &text) {
            assert!(ok, "{sh} -n rejects a fixture script");
        }
    }
    // Snippets: our verdict (error or not) must match dash's.
    let snippets = [
        "a && b || c",
        "if a; then b; fi",
        "if a; then b; else",
        "case x in a) b;; *) c;; esac",
        "case x in a) b",
        "f() { echo; }",
        "f() echo",
        "for i in 1 2; do echo $i; done",
        "for i in 1 2; echo $i; done",
        "while :; do :; done",
        "until false; do :; done",
        "{ echo; }",
        "{ echo }",
        "( echo )",
        "echo )",
        "echo 'unterminated",
        "echo \"$(echo ')')\"",
        "x=$((1+2)) y=${z:-w}",
        "echo ${",
        "cat <<EOF\nbody\nEOF\necho after",
        "a | b | c &",
        "! a",
        "a ;; b",
        "then",
        "echo `echo \\`echo\\``",
    ];
    for s in snippets {
        let ours = shell::parse(s.as_bytes()).error.is_none();
        if let Some(dash) = shell_accepts("dash", s) {
            assert_eq!(ours, dash, "{s:?}: ours {ours}, dash {dash}");
        }
    }
}
