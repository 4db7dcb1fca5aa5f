use super::*;

fn ok(src: &str) -> Program {
    let p = parse(src.as_bytes());
    assert_eq!(p.error, None, "parse error in {src:?}");
    p.program
}

/// The simple commands of a program, depth first, as (line, literal-or-raw words).
fn simple(p: &Program) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    fn walk_prog(p: &Program, out: &mut Vec<(usize, Vec<String>)>) {
        for ao in &p.items {
            for pl in std::iter::once(&ao.first).chain(ao.rest.iter().map(|(_, p)| p)) {
                for c in &pl.commands {
                    walk_cmd(c, out);
                }
            }
        }
    }
    fn walk_cmd(c: &Command, out: &mut Vec<(usize, Vec<String>)>) {
        match &c.kind {
            CommandKind::Simple(sc) => out.push((
                c.line,
                sc.words
                    .iter()
                    .map(|w| w.literal().unwrap_or_else(|| w.raw.clone()))
                    .collect(),
            )),
            CommandKind::Group(p) | CommandKind::Subshell(p) => walk_prog(p, out),
            CommandKind::If { arms, otherwise } => {
                for (c, b) in arms {
                    walk_prog(c, out);
                    walk_prog(b, out);
                }
                if let Some(o) = otherwise {
                    walk_prog(o, out);
                }
            }
            CommandKind::While { cond, body, .. } => {
                walk_prog(cond, out);
                walk_prog(body, out);
            }
            CommandKind::For { body, .. } => walk_prog(body, out),
            CommandKind::Case { items, .. } => {
                for i in items {
                    walk_prog(&i.body, out);
                }
            }
            CommandKind::FunctionDef { body, .. } => walk_cmd(body, out),
            CommandKind::Unsupported(_) => {}
        }
    }
    walk_prog(p, &mut out);
    out
}

fn words(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn quoting_table() {
    let cases: &[(&str, &[&str])] = &[
        ("echo 'a b' \"c d\" e\\ f", &["echo", "a b", "c d", "e f"]),
        ("echo \"a\\\"b\" 'x\\y'", &["echo", "a\"b", "x\\y"]),
        ("echo $'a\\tb\\x41\\101'", &["echo", "a\tbAA"]),
        ("echo a\\\nb", &["echo", "ab"]),
        ("echo \"\\$x\" \"\\n\"", &["echo", "$x", "\\n"]),
        ("echo ''", &["echo", ""]),
        ("echo a#b # comment", &["echo", "a#b"]),
    ];
    for (src, want) in cases {
        assert_eq!(simple(&ok(src)), vec![(1, words(want))], "{src}");
    }
}

#[test]
fn parameter_forms() {
    let p = ok("echo $x ${y} ${z:-w} ${a:=b} ${c-d} ${e:+f} \"$@\" \"$*\" $1 ${#g} ${h#*/} ${i%%.*} ${1:0:1} ${!n} ${arr[0]} ${#FUNCNAME[@]}");
    let CommandKind::Simple(sc) = &p.items[0].first.commands[0].kind else {
        panic!("not simple")
    };
    let ops: Vec<(String, ParamOp, bool)> = sc
        .words
        .iter()
        .skip(1)
        .map(|w| match &w.parts[0] {
            Part::Param(p) => (p.name.clone(), p.op, p.quoted),
            other => panic!("{other:?}"),
        })
        .collect();
    use ParamOp::*;
    assert_eq!(
        ops,
        vec![
            ("x".into(), Plain, false),
            ("y".into(), Plain, false),
            ("z".into(), Default(true), false),
            ("a".into(), Assign(true), false),
            ("c".into(), Default(false), false),
            ("e".into(), Alt(true), false),
            ("@".into(), Plain, true),
            ("*".into(), Plain, true),
            ("1".into(), Plain, false),
            ("g".into(), Length, false),
            ("h".into(), RemovePrefix, false),
            ("i".into(), RemoveLongSuffix, false),
            ("1".into(), Substring, false),
            ("n".into(), Plain, false),
            ("arr".into(), Plain, false),
            ("FUNCNAME".into(), Length, false),
        ]
    );
}

#[test]
fn substitutions_are_parsed() {
    let p = ok("x=$(command -v node) y=`id -u` z=$((1 + (2*3))) w=\"$(echo \"$(pwd)\")\"");
    let CommandKind::Simple(sc) = &p.items[0].first.commands[0].kind else {
        panic!()
    };
    assert_eq!(sc.assigns.len(), 4);
    let Part::CmdSubst { program, .. } = &sc.assigns[0].1.parts[0] else {
        panic!()
    };
    assert_eq!(
        simple(program),
        vec![(1, words(&["command", "-v", "node"]))]
    );
    let Part::CmdSubst { program, .. } = &sc.assigns[1].1.parts[0] else {
        panic!()
    };
    assert_eq!(simple(program), vec![(1, words(&["id", "-u"]))]);
    assert!(matches!(&sc.assigns[2].1.parts[0], Part::Arith { text, .. } if text == "1 + (2*3)"));
}

#[test]
fn heredocs_are_skipped() {
    let src = "cat <<EOF >/tmp/x\nexec evil $HOME\nEOF\ncat <<-'END'\n\texec also evil\n\tEND\ncat << \"Q\"; echo after\n$(not parsed\nQ\nexec real\n";
    let p = ok(src);
    assert_eq!(
        simple(&p),
        vec![
            (1, words(&["cat"])),
            (4, words(&["cat"])),
            (7, words(&["cat"])),
            (7, words(&["echo", "after"])),
            (10, words(&["exec", "real"])),
        ]
    );
}

#[test]
fn compound_commands_and_lines() {
    let src = r#"#!/bin/sh
set -e
f() {
  exec "$@"
}
function g { echo g; }
if [ "$1" = a ]; then
  echo a
elif [ "$1" = b ]
then echo b
else
  echo c
fi
while false; do echo w; done
until true; do echo u; done
for i in 1 2 3; do echo "$i"; done
for j
do echo "$j"; done
case "$1" in
  -*|--*) set -- app "$@" ;;
  (start) exec app ;;
  *) ;;
esac
{ echo grp; } 2>&1 | cat
( cd /tmp && echo sub ) || true
a && b || c &
[[ -n "$x" && $y == *.conf ]] && echo dbl
"#;
    let p = ok(src);
    let s = simple(&p);
    let lines: Vec<usize> = s.iter().map(|(l, _)| *l).collect();
    assert_eq!(
        lines,
        vec![
            2, 4, 6, 7, 8, 9, 10, 12, 14, 14, 15, 15, 16, 18, 20, 21, 24, 24, 25, 25, 25, 26, 26,
            26, 27, 27
        ]
    );
    assert_eq!(s[1].1, words(&["exec", "\"$@\""]));
    assert_eq!(
        s[24].1,
        words(&["[[", "-n", "\"$x\"", "&&", "$y", "==", "*.conf", "]]"])
    );
    // `a && b || c &` is one background and-or list.
    assert!(p.items[11].background);
    let CommandKind::Case { items, .. } = &p.items[8].first.commands[0].kind else {
        panic!("case")
    };
    assert_eq!(items.len(), 3);
    assert_eq!(items[0].patterns.len(), 2);
    assert_eq!(items[1].line, 21);
}

#[test]
fn spans_cover_the_command_text() {
    let src = "a=1\n  exec gosu postgres \"$BASH_SOURCE\" \"$@\"  # re-exec\nnext";
    let p = ok(src);
    let c = &p.items[1].first.commands[0];
    assert_eq!(c.line, 2);
    assert_eq!(
        &src[c.span.0..c.span.1],
        "exec gosu postgres \"$BASH_SOURCE\" \"$@\""
    );
}

#[test]
fn redirections() {
    let p = ok("exec 3>&1 2>/dev/null >>log <in <>rw >|clob &>all");
    let CommandKind::Simple(sc) = &p.items[0].first.commands[0].kind else {
        panic!()
    };
    let ops: Vec<(Option<u32>, &str)> =
        sc.redirects.iter().map(|r| (r.fd, r.op.as_str())).collect();
    assert_eq!(
        ops,
        vec![
            (Some(3), ">&"),
            (Some(2), ">"),
            (None, ">>"),
            (None, "<"),
            (None, "<>"),
            (None, ">|"),
            (None, "&>")
        ]
    );
    assert_eq!(sc.words.len(), 1);
}

#[test]
fn malformed_input_reports_errors_and_keeps_prefix() {
    let cases: &[(&str, usize)] = &[
        ("echo ok\nif true; then\n", 1),
        ("echo ok\necho 'open\n", 1),
        ("echo ok\necho \"open\n", 1),
        ("echo ok\ncase x in\n", 1),
        ("echo ok\n)\n", 1),
        ("echo ok\necho ${x\n", 1),
        ("echo ok\necho $(ls\n", 1),
        ("echo ok\necho `ls\n", 1),
        ("echo ok\nfi\n", 1),
        ("echo ok\n;;\n", 1),
        ("echo ok\nf() \n", 1),
    ];
    for (src, n) in cases {
        let p = parse(src.as_bytes());
        assert!(p.error.is_some(), "{src:?} should fail");
        assert_eq!(p.program.items.len(), *n, "{src:?}");
    }
}

#[test]
fn limits_hold() {
    // Deep nesting: an error, no stack overflow.
    let deep = "(".repeat(10_000);
    assert!(parse(deep.as_bytes()).error.is_some());
    let deep = "$(".repeat(10_000);
    assert!(parse(deep.as_bytes()).error.is_some());
    let deep = "${x:-".repeat(10_000);
    assert!(parse(deep.as_bytes()).error.is_some());
    let deep = "if true; then ".repeat(1_000);
    assert!(parse(deep.as_bytes()).error.is_some());
    // Oversized input is cut.
    let big = "echo x\n".repeat(MAX_INPUT / 7 + 10);
    let p = parse(big.as_bytes());
    assert!(p.error.is_some());
    // Arbitrary bytes never panic.
    for seed in 0u32..2000 {
        let mut x = seed.wrapping_mul(2654435761);
        let bytes: Vec<u8> = (0..64)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                b"ab $'\"`\\(){}[];&|<>\n#=-:+?*@!0123456789 \tifthenfidoneesaccase"
                    [(x % 56) as usize]
            })
            .collect();
        let _ = parse(&bytes);
    }
}

#[test]
fn split_assignment_forms() {
    let p = ok("export A=1 B=\"x y\" C");
    let CommandKind::Simple(sc) = &p.items[0].first.commands[0].kind else {
        panic!()
    };
    let (n, v) = split_assignment(&sc.words[1]).expect("A=1");
    assert_eq!((n.as_str(), v.literal().as_deref()), ("A", Some("1")));
    let (n, v) = split_assignment(&sc.words[2]).expect("B=");
    assert_eq!((n.as_str(), v.literal().as_deref()), ("B", Some("x y")));
    assert!(split_assignment(&sc.words[3]).is_none());
    assert!(is_name("_a1") && !is_name("1a") && !is_name(""));
}
