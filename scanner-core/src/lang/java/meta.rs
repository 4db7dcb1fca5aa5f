//! The metadata files a Java archive carries about itself: `pom.properties`, the embedded `pom.xml`,
//! `META-INF/MANIFEST.MF`, and what its file name says.

use std::collections::BTreeMap;

/// groupId / artifactId / version as one source states them (any may be empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Gav {
    pub(crate) group: String,
    pub(crate) artifact: String,
    pub(crate) version: String,
}

impl Gav {
    /// All three present, as Trivy requires of pom.properties.
    pub(crate) fn complete(&self) -> bool {
        !self.group.is_empty() && !self.artifact.is_empty() && !self.version.is_empty()
    }
}

/// `pom.properties` (Java properties: `key=value`, `key: value` or `key value`; `#`/`!` comments).
pub(crate) fn parse_pom_properties(text: &str) -> Gav {
    let mut gav = Gav::default();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let split = line
            .find(|c: char| c == '=' || c == ':' || c.is_whitespace())
            .unwrap_or(line.len());
        let (key, rest) = line.split_at(split);
        let rest = rest.trim_start();
        let value = rest
            .strip_prefix('=')
            .or_else(|| rest.strip_prefix(':'))
            .unwrap_or(rest)
            .trim();
        match key {
            "groupId" => gav.group = value.to_string(),
            "artifactId" => gav.artifact = value.to_string(),
            "version" => gav.version = value.to_string(),
            _ => {}
        }
    }
    gav
}

/// `META-INF/maven/<groupId>/<artifactId>/pom.xml` or `.../pom.properties`: the directory's G and A.
pub(crate) fn maven_dir(name: &str, file: &str) -> Option<(String, String)> {
    let rest = name.strip_prefix("META-INF/maven/")?;
    let rest = rest.strip_suffix(file)?.strip_suffix('/')?;
    let (g, a) = rest.split_once('/')?;
    (!g.is_empty() && !a.is_empty() && !a.contains('/')).then(|| (g.to_string(), a.to_string()))
}

/// The main section of a MANIFEST.MF: attribute names lower-cased, continuation lines joined.
#[derive(Debug, Default)]
pub(crate) struct Manifest {
    attrs: BTreeMap<String, String>,
    plugin_licenses: Vec<String>,
}

impl Manifest {
    pub(crate) fn parse(text: &str) -> Self {
        let mut m = Manifest::default();
        let mut current = String::new();
        // CRLF, LF and a lone CR all end a line.
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        for line in text.split('\n') {
            if line.is_empty() {
                break; // the main section ends at the first empty line
            }
            if let Some(cont) = line.strip_prefix(' ') {
                current.push_str(cont);
                continue;
            }
            m.add(&current);
            current = line.to_string();
        }
        m.add(&current);
        m
    }

    fn add(&mut self, line: &str) {
        let Some((k, v)) = line.split_once(':') else {
            return;
        };
        let v = v.trim();
        // Unresolved localisation variables (`Bundle-Name: %bundleName`) say nothing.
        if v.is_empty() || v.starts_with('%') {
            return;
        }
        let k = k.trim().to_ascii_lowercase();
        if k == "plugin-license-name" || k.starts_with("plugin-license-name-") {
            self.plugin_licenses.push(v.to_string());
        }
        self.attrs.entry(k).or_insert_with(|| v.to_string());
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.attrs.get(key).map(String::as_str)
    }

    fn first(&self, keys: &[&str]) -> String {
        keys.iter()
            .find_map(|k| self.get(k))
            .unwrap_or_default()
            .to_string()
    }

    /// Trivy's reading of a manifest: groupId from Implementation-Vendor-Id, Bundle-SymbolicName
    /// (without its last dot-separated part), Implementation-Vendor, Specification-Vendor;
    /// artifactId from Implementation-Title, Specification-Title, Bundle-Name; version from
    /// Implementation-Version, Specification-Version, Bundle-Version.
    pub(crate) fn gav(&self) -> Gav {
        let group = if let Some(g) = self.get("implementation-vendor-id") {
            g.to_string()
        } else if let Some(sym) = self.get("bundle-symbolicname") {
            let sym = sym.split(';').next().unwrap_or_default().trim();
            sym.rsplit_once('.').map_or(sym, |(p, _)| p).to_string()
        } else {
            self.first(&["implementation-vendor", "specification-vendor"])
        };
        Gav {
            group,
            artifact: self.first(&["implementation-title", "specification-title", "bundle-name"]),
            version: self.first(&[
                "implementation-version",
                "specification-version",
                "bundle-version",
            ]),
        }
    }

    pub(crate) fn vendor(&self) -> Option<String> {
        [
            "implementation-vendor",
            "bundle-vendor",
            "specification-vendor",
        ]
        .iter()
        .find_map(|k| self.get(k))
        .map(str::to_string)
    }

    /// Jenkins `Plugin-License-Name[-N]`, else the SPDX ids among OSGi `Bundle-License` entries.
    pub(crate) fn licenses(&self) -> Vec<String> {
        if !self.plugin_licenses.is_empty() {
            return self.plugin_licenses.clone();
        }
        let Some(bl) = self.get("bundle-license") else {
            return Vec::new();
        };
        bl.split(',')
            .filter_map(|e| {
                let mut parts = e.split(';');
                let id = parts.next()?.trim().trim_matches('"');
                let link = parts
                    .filter_map(|a| a.split_once('='))
                    .find(|(k, _)| k.trim() == "link")
                    .map(|(_, v)| v.trim().trim_matches('"'));
                spdx::license_id(id)
                    .map(|l| l.name.to_string())
                    .or_else(|| license_by_url(id))
                    .or_else(|| link.and_then(license_by_url))
            })
            .collect()
    }
}

/// The SPDX id of a few licence URLs that OSGi `Bundle-License` headers commonly carry (Trivy maps
/// them through SPDX's `seeAlso` list).
fn license_by_url(url: &str) -> Option<String> {
    let u = url.trim().to_ascii_lowercase();
    let u = u
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_start_matches("www.")
        .trim_end_matches('/');
    let id = match u {
        "apache.org/licenses/license-2.0"
        | "apache.org/licenses/license-2.0.txt"
        | "apache.org/licenses/license-2.0.html"
        | "opensource.org/licenses/apache-2.0" => "Apache-2.0",
        "opensource.org/licenses/mit" | "opensource.org/licenses/mit-license.php" => "MIT",
        "eclipse.org/legal/epl-v10.html" | "eclipse.org/legal/epl-1.0" => "EPL-1.0",
        "eclipse.org/legal/epl-2.0" | "eclipse.org/legal/epl-v20.html" => "EPL-2.0",
        "opensource.org/licenses/bsd-3-clause" => "BSD-3-Clause",
        "opensource.org/licenses/bsd-2-clause" => "BSD-2-Clause",
        "gnu.org/licenses/old-licenses/lgpl-2.1.html" => "LGPL-2.1-only",
        _ => return None,
    };
    Some(id.to_string())
}

/// What an embedded pom.xml states.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Pom {
    pub(crate) gav: Gav,
    pub(crate) licenses: Vec<String>,
    pub(crate) url: Option<String>,
}

/// A deliberately small XML reader for pom.xml: elements and text, comments/PI/CDATA/DOCTYPE
/// skipped, namespace prefixes dropped, the five predefined entities and character references
/// decoded. Nesting deeper than 64 is ignored (no pom needs it).
pub(crate) fn parse_pom_xml(text: &str) -> Pom {
    const MAX_DEPTH: usize = 64;
    let mut stack: Vec<String> = Vec::new();
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    let mut props: BTreeMap<String, String> = BTreeMap::new();
    let mut licenses: Vec<(String, String)> = Vec::new();
    let mut rest = text;
    let mut pending_text = String::new();
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else { break };
        pending_text.push_str(&decode_entities(rest.get(..lt).unwrap_or_default()));
        rest = rest.get(lt..).unwrap_or_default();
        let skip = |r: &str, open: &str, close: &str| -> Option<usize> {
            r.starts_with(open)
                .then(|| r.find(close).map(|e| e + close.len()))
                .flatten()
        };
        if let Some(n) = skip(rest, "<!--", "-->")
            .or_else(|| skip(rest, "<?", "?>"))
            .or_else(|| skip(rest, "<!DOCTYPE", ">"))
        {
            rest = rest.get(n..).unwrap_or_default();
            continue;
        }
        if rest.starts_with("<![CDATA[") {
            let Some(end) = rest.find("]]>") else { break };
            pending_text.push_str(rest.get(9..end).unwrap_or_default());
            rest = rest.get(end + 3..).unwrap_or_default();
            continue;
        }
        let Some(gt) = rest.find('>') else { break };
        let tag = rest.get(1..gt).unwrap_or_default();
        rest = rest.get(gt + 1..).unwrap_or_default();
        if let Some(close) = tag.strip_prefix('/') {
            let text = pending_text.trim().to_string();
            pending_text.clear();
            let name = local_name(close);
            if stack.last().map(String::as_str) == Some(name) {
                let path = stack.join("/");
                record(&path, &text, &mut fields, &mut props, &mut licenses);
                stack.pop();
            }
            continue;
        }
        pending_text.clear();
        let self_closing = tag.ends_with('/');
        let name = local_name(tag.trim_end_matches('/'));
        if !self_closing {
            if stack.len() >= MAX_DEPTH {
                break;
            }
            stack.push(name.to_string());
            if stack.join("/") == "project/licenses/license" {
                licenses.push((String::new(), String::new()));
            }
        }
    }
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let mut gav = Gav {
        group: get("project/groupId"),
        artifact: get("project/artifactId"),
        version: get("project/version"),
    };
    if gav.group.is_empty() {
        gav.group = get("project/parent/groupId");
    }
    if gav.version.is_empty() {
        gav.version = get("project/parent/version");
    }
    // `${…}` references to the pom's own properties or coordinates.
    props.insert("project.groupId".into(), gav.group.clone());
    props.insert("project.version".into(), gav.version.clone());
    props.insert(
        "project.parent.version".into(),
        get("project/parent/version"),
    );
    props.insert(
        "project.parent.groupId".into(),
        get("project/parent/groupId"),
    );
    for v in [&mut gav.group, &mut gav.artifact, &mut gav.version] {
        *v = interpolate(v, &props);
    }
    let licenses = licenses
        .into_iter()
        .filter_map(|(name, url)| {
            let l = if name.is_empty() { url } else { name };
            (!l.is_empty()).then_some(l)
        })
        .fold(Vec::new(), |mut acc, l| {
            if !acc.contains(&l) {
                acc.push(l);
            }
            acc
        });
    let url = fields.get("project/url").filter(|u| !u.is_empty()).cloned();
    Pom { gav, licenses, url }
}

fn record(
    path: &str,
    text: &str,
    fields: &mut BTreeMap<String, String>,
    props: &mut BTreeMap<String, String>,
    licenses: &mut [(String, String)],
) {
    match path {
        "project/licenses/license/name" => {
            if let Some(l) = licenses.last_mut() {
                l.0 = text.to_string();
            }
        }
        "project/licenses/license/url" => {
            if let Some(l) = licenses.last_mut() {
                l.1 = text.to_string();
            }
        }
        _ => {
            if let Some(key) = path.strip_prefix("project/properties/") {
                if !key.contains('/') {
                    props.insert(key.to_string(), text.to_string());
                }
            } else {
                fields.insert(path.to_string(), text.to_string());
            }
        }
    }
}

fn local_name(tag: &str) -> &str {
    let name = tag
        .split(|c: char| c.is_whitespace())
        .next()
        .unwrap_or_default();
    name.rsplit_once(':').map_or(name, |(_, l)| l)
}

/// One level of `${name}` substitution; an unresolved reference leaves the value empty (unknown).
fn interpolate(v: &str, props: &BTreeMap<String, String>) -> String {
    if !v.contains("${") {
        return v.to_string();
    }
    let mut out = String::new();
    let mut rest = v;
    while let Some(start) = rest.find("${") {
        out.push_str(rest.get(..start).unwrap_or_default());
        let after = rest.get(start + 2..).unwrap_or_default();
        let Some(end) = after.find('}') else {
            return String::new();
        };
        match props.get(after.get(..end).unwrap_or_default()) {
            Some(val) if !val.contains("${") && !val.is_empty() => out.push_str(val),
            _ => return String::new(),
        }
        rest = after.get(end + 1..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(rest.get(..amp).unwrap_or_default());
        let after = rest.get(amp + 1..).unwrap_or_default();
        let semi = after.find(';').filter(|&i| i <= 10);
        let decoded = semi.and_then(|i| {
            let ent = after.get(..i)?;
            match ent {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => {
                    let n = ent.strip_prefix('#')?;
                    let code = match n.strip_prefix('x').or_else(|| n.strip_prefix('X')) {
                        Some(h) => u32::from_str_radix(h, 16).ok()?,
                        None => n.parse().ok()?,
                    };
                    char::from_u32(code)
                }
            }
        });
        match (decoded, semi) {
            (Some(c), Some(i)) => {
                out.push(c);
                rest = after.get(i + 1..).unwrap_or_default();
            }
            _ => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `artifact-version.jar` as Trivy splits it: the last `-` followed by a digit where the part before
/// is `[A-Za-z0-9._-]*` ending in anything but `-`/`*`, and the version has no whitespace. Trivy only
/// reads `.jar` names; we read every archive extension.
pub(crate) fn parse_file_name(file_name: &str) -> Option<(String, String)> {
    let dot = file_name.rfind('.')?;
    let stem = file_name.get(..dot)?;
    if !super::is_archive_path(file_name) {
        return None;
    }
    let bytes = stem.as_bytes();
    for (i, &b) in bytes.iter().enumerate().rev() {
        if b != b'-' || !bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            continue;
        }
        let (artifact, version) = (stem.get(..i)?, stem.get(i + 1..)?);
        let mut chars = artifact.chars();
        let Some(last) = chars.next_back() else {
            continue;
        };
        let head_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if head_ok && last != '-' && last != '*' && !version.chars().any(char::is_whitespace) {
            return Some((artifact.to_string(), version.to_string()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            ("guava-31.1-jre.jar", Some(("guava", "31.1-jre"))),
            (
                "commons-lang3-3.12.0.jar",
                Some(("commons-lang3", "3.12.0")),
            ),
            (
                "spring-core-5.3.4-SNAPSHOT.jar",
                Some(("spring-core", "5.3.4-SNAPSHOT")),
            ),
            ("foo-1.0-2.0.jar", Some(("foo-1.0", "2.0"))),
            ("webapp-1.0.WAR", Some(("webapp", "1.0"))),
            ("commons-lang3.jar", None),
            ("bundle.ear", None),
            ("-1.0.jar", None),
            ("a--1.0.jar", None),
            ("x-1.0.txt", None),
            ("jsr305-0.1~+svn49.jar", Some(("jsr305", "0.1~+svn49"))),
        ];
        for (name, want) in cases {
            let got = parse_file_name(name);
            let want = want.map(|(a, v)| (a.to_string(), v.to_string()));
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn pom_properties() {
        let g = parse_pom_properties(
            "#Generated\n!c\ngroupId=com.google.guava\r\nartifactId : guava\nversion 31.1-jre\nx=y\n",
        );
        assert_eq!(
            g,
            Gav {
                group: "com.google.guava".into(),
                artifact: "guava".into(),
                version: "31.1-jre".into()
            }
        );
        assert!(!parse_pom_properties("groupId=a\nversion=1").complete());
    }

    #[test]
    fn manifest_rules() {
        let m = Manifest::parse(
            "Manifest-Version: 1.0\r\nBundle-SymbolicName: com.fasterxml.jackson.core.jackson-data\r\n bind;singleton:=true\r\nBundle-Name: %name\r\nSpecification-Title: Jackson\r\nBundle-Version: 2.14.0\r\nBundle-License: Apache-2.0;link=\"x\", free text\r\n\r\nName: a/b\r\nImplementation-Vendor-Id: ignored\r\n",
        );
        assert_eq!(
            m.gav(),
            Gav {
                group: "com.fasterxml.jackson.core".into(),
                artifact: "Jackson".into(),
                version: "2.14.0".into()
            }
        );
        assert_eq!(m.licenses(), vec!["Apache-2.0".to_string()]);
        let m = Manifest::parse("Implementation-Vendor-Id: org.acme\nImplementation-Title: app\nImplementation-Version: 2\nPlugin-License-Name: MIT License\n");
        assert_eq!(m.gav().group, "org.acme");
        assert_eq!(m.licenses(), vec!["MIT License".to_string()]);
        assert_eq!(Manifest::parse("").gav(), Gav::default());
    }

    #[test]
    fn pom_xml() {
        let p = parse_pom_xml(
            r#"<?xml version="1.0"?>
<!-- <groupId>no</groupId> -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <parent><groupId>org.apache.commons</groupId><artifactId>commons-parent</artifactId><version>52</version></parent>
  <artifactId>commons-io</artifactId>
  <version>${rev}</version>
  <url>https://commons.apache.org/io</url>
  <properties><rev>2.11.0</rev></properties>
  <dependencies><dependency><groupId>x</groupId><version>9</version></dependency></dependencies>
  <licenses>
    <license><name>Apache License, Version 2.0</name><url>https://www.apache.org/licenses/LICENSE-2.0.txt</url></license>
    <license><url>https://opensource.org/licenses/MIT</url></license>
    <license><name><![CDATA[A &amp; B]]></name></license>
    <license><name>R&amp;D &#x41;</name></license>
  </licenses>
</project>"#,
        );
        assert_eq!(p.gav.group, "org.apache.commons");
        assert_eq!(p.gav.artifact, "commons-io");
        assert_eq!(p.gav.version, "2.11.0");
        assert_eq!(p.url.as_deref(), Some("https://commons.apache.org/io"));
        assert_eq!(
            p.licenses,
            vec![
                "Apache License, Version 2.0".to_string(),
                "https://opensource.org/licenses/MIT".into(),
                "A &amp; B".into(),
                "R&D A".into()
            ]
        );
        let unresolved = parse_pom_xml("<project><groupId>g</groupId><artifactId>a</artifactId><version>${nope}</version></project>");
        assert_eq!(unresolved.gav.version, "");
        // Garbage never panics.
        for s in [
            "<",
            "<<<>>>",
            "<a><b></a>",
            "<!--",
            "<![CDATA[",
            "&#xFFFFFFFF;",
            "<project>&",
        ] {
            let _ = parse_pom_xml(s);
        }
    }

    #[test]
    fn maven_dirs() {
        assert_eq!(
            maven_dir("META-INF/maven/com.example/demo/pom.xml", "pom.xml"),
            Some(("com.example".into(), "demo".into()))
        );
        assert_eq!(maven_dir("META-INF/maven/a/pom.xml", "pom.xml"), None);
        assert_eq!(maven_dir("META-INF/maven/a/b/c/pom.xml", "pom.xml"), None);
        assert_eq!(maven_dir("x/META-INF/maven/a/b/pom.xml", "pom.xml"), None);
    }
}
