//! Package URLs (purl) as the purl specification spells them.
//!
//! A [`Purl`] is built from parts and rendered with [`std::fmt::Display`]. Every part is
//! percent-encoded except the RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`), so a Debian
//! version `1:2.38.1-5` becomes `1%3A2.38.1-5` and `2.36-9+deb12u4` becomes `2.36-9%2Bdeb12u4` (the
//! spelling Trivy and Syft use). Qualifiers are kept in a `BTreeMap`, so they come out sorted by key,
//! and empty values are dropped, as the specification requires.

use std::collections::BTreeMap;
use std::fmt;

use crate::model::{Distro, Package, PackageKind, Subject};

/// A package URL: `pkg:type/namespace/name@version?qualifiers#subpath`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Purl {
    /// Package type, e.g. `deb` (lower-cased on output).
    pub ty: String,
    /// Namespace segments, e.g. `["debian"]` or `["@angular"]`; each is encoded on its own.
    pub namespace: Vec<String>,
    /// Package name.
    pub name: String,
    /// Version, if known.
    pub version: Option<String>,
    /// Qualifiers; keys are lower-cased on output, empty values are left out.
    pub qualifiers: BTreeMap<String, String>,
    /// Subpath segments inside the package.
    pub subpath: Vec<String>,
}

impl Purl {
    /// A purl of type `ty` for `name` with no namespace, version, qualifiers or subpath.
    pub fn new(ty: &str, name: &str) -> Self {
        Purl {
            ty: ty.to_owned(),
            namespace: Vec::new(),
            name: name.to_owned(),
            version: None,
            qualifiers: BTreeMap::new(),
            subpath: Vec::new(),
        }
    }

    /// Sets the namespace from a `/`-separated string (empty segments are dropped).
    pub fn with_namespace(mut self, namespace: &str) -> Self {
        self.namespace = namespace
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        self
    }

    /// Sets the version.
    pub fn with_version(mut self, version: &str) -> Self {
        self.version = Some(version.to_owned());
        self
    }

    /// Adds a qualifier (an empty value is ignored).
    pub fn with_qualifier(mut self, key: &str, value: &str) -> Self {
        if !value.is_empty() {
            self.qualifiers
                .insert(key.to_ascii_lowercase(), value.to_owned());
        }
        self
    }
}

impl fmt::Display for Purl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pkg:{}/", self.ty.to_ascii_lowercase())?;
        for segment in &self.namespace {
            write!(f, "{}/", encode(segment))?;
        }
        f.write_str(&encode(&self.name))?;
        if let Some(version) = &self.version {
            write!(f, "@{}", encode(version))?;
        }
        let mut sep = '?';
        for (key, value) in &self.qualifiers {
            if value.is_empty() {
                continue;
            }
            write!(f, "{sep}{}={}", encode(key), encode(value))?;
            sep = '&';
        }
        let subpath: Vec<String> = self
            .subpath
            .iter()
            .filter(|s| !s.is_empty() && *s != "." && *s != "..")
            .map(|s| encode(s))
            .collect();
        if !subpath.is_empty() {
            write!(f, "#{}", subpath.join("/"))?;
        }
        Ok(())
    }
}

/// Percent-encodes everything but the RFC 3986 unreserved characters.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `distro` qualifier value: `<id>-<version>`, or `<id>` when no version is known.
fn distro_qualifier(distro: &Distro) -> String {
    let id = distro.id.to_ascii_lowercase();
    match distro.version.as_deref().or(distro.version_id.as_deref()) {
        Some(v) if !v.is_empty() => format!("{id}-{v}"),
        _ => id,
    }
}

/// The purl of an OS package, or `None` for a package without a kind or name.
///
/// * deb: `pkg:deb/<distro id, default debian>/<name>@<version incl. epoch>?arch=…&distro=<id>-<ver>`
/// * apk: `pkg:apk/<distro id, default alpine>/<name>@<version>?arch=…&distro=<id>-<ver>`
/// * rpm: `pkg:rpm/<distro id>/<name>@<version-release>?arch=…&distro=…&epoch=<n>`; no namespace when
///   no distro is known, `epoch` whenever the header states one (also `0`).
pub fn package_purl(package: &Package, distro: Option<&Distro>) -> Option<Purl> {
    let kind = package.kind?;
    if package.name.is_empty() {
        return None;
    }
    if !kind.is_os() {
        return language_purl(kind, package);
    }
    let distro = distro.filter(|d| !d.id.is_empty());
    let namespace = match (kind, distro) {
        (_, Some(d)) => vendor(&d.id),
        (PackageKind::Deb, None) => "debian".to_owned(),
        (PackageKind::Apk, None) => "alpine".to_owned(),
        (_, None) => String::new(),
    };
    // deb and apk names are case-insensitive and lower-cased by the spec; rpm names are not.
    let name = match kind {
        PackageKind::Deb | PackageKind::Apk => package.name.to_ascii_lowercase(),
        _ => package.name.clone(),
    };
    let mut purl = Purl::new(kind.purl_type(), &name).with_namespace(&namespace);
    if !package.version.is_empty() {
        purl = purl.with_version(&package.version);
    }
    if let Some(arch) = &package.arch {
        purl = purl.with_qualifier("arch", arch);
    }
    if let Some(d) = distro {
        purl = purl.with_qualifier("distro", &distro_qualifier(d));
    }
    if kind == PackageKind::Rpm {
        if let Some(epoch) = package.epoch {
            purl = purl.with_qualifier("epoch", &epoch.to_string());
        }
    }
    Some(purl)
}

/// The purl of a language package, as the purl spec's type definitions (and Trivy) spell them:
///
/// * maven: `pkg:maven/<groupId>/<artifactId>@<version>`
/// * npm: `pkg:npm/%40<scope>/<name>@<version>` (scope from [`Package::namespace`])
/// * pypi: `pkg:pypi/<PEP 503 name>@<version>`
/// * golang: `pkg:golang/<module path up to the last />/<last element>@<version>`, lower-cased
/// * nuget, cargo: `pkg:<type>/<name>@<version>`
///
/// `None` for [`PackageKind::Binary`] (those are `bin:` components keyed by SHA-256) and for a package
/// without a version only when the ecosystem has no meaning without one (none today: the version is left
/// out instead).
fn language_purl(kind: PackageKind, package: &Package) -> Option<Purl> {
    let (namespace, name) = match kind {
        PackageKind::Binary => return None,
        PackageKind::Golang => {
            let path = package.name.to_ascii_lowercase();
            match path.rsplit_once('/') {
                Some((ns, n)) => (ns.to_owned(), n.to_owned()),
                None => (String::new(), path),
            }
        }
        PackageKind::Pypi => (String::new(), pep503(&package.name)),
        PackageKind::Npm => (
            package.namespace.clone().unwrap_or_default(),
            package.name.clone(),
        ),
        _ => (
            package.namespace.clone().unwrap_or_default(),
            package.name.clone(),
        ),
    };
    let mut purl = Purl::new(kind.purl_type(), &name);
    if !namespace.is_empty() {
        // A Maven groupId or Go path prefix is one purl namespace string whose `/`s separate segments.
        purl = purl.with_namespace(&namespace);
    }
    if !package.version.is_empty() {
        purl = purl.with_version(&package.version);
    }
    Some(purl)
}

/// PEP 503 normalisation: lower-case, runs of `-`, `_` and `.` become one `-`.
pub fn pep503(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
            continue;
        }
        if sep && !out.is_empty() {
            out.push('-');
        }
        sep = false;
        out.extend(c.to_lowercase());
    }
    out
}

/// The purl namespace (the distribution's vendor) for an os-release `ID`: the purl spec and the
/// vulnerability databases name the vendor, not the edition (`opensuse`, not `opensuse-leap`; `redhat`,
/// not `rhel`), as Trivy and Syft do.
fn vendor(id: &str) -> String {
    let id = id.to_ascii_lowercase();
    match id.as_str() {
        "rhel" => "redhat".to_owned(),
        "ol" => "oracle".to_owned(),
        "amzn" => "amazon".to_owned(),
        "sles" | "sled" | "sles_sap" => "suse".to_owned(),
        _ if id.starts_with("opensuse") => "opensuse".to_owned(),
        _ => id,
    }
}

/// The purl of a scanned image, `pkg:oci/<last repository component>@<manifest digest>?arch=…&
/// repository_url=<registry/repo>`, when its manifest digest is known.
pub fn image_purl(subject: &Subject) -> Option<Purl> {
    let digest = subject.manifest_digest.as_ref()?;
    let repository = subject.repository.as_deref().unwrap_or(&subject.name);
    let repository = strip_reference(repository);
    let name = repository
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty())?
        .to_ascii_lowercase();
    let mut purl = Purl::new("oci", &name).with_version(&digest.0);
    if let Some(arch) = &subject.architecture {
        purl = purl.with_qualifier("arch", arch);
    }
    if subject.repository.is_some() {
        purl = purl.with_qualifier("repository_url", repository);
    }
    Some(purl)
}

/// `registry/repo:tag@sha256:…` → `registry/repo` (a `:` before the last `/` is a registry port).
fn strip_reference(reference: &str) -> &str {
    let without_digest = reference.split_once('@').map_or(reference, |(r, _)| r);
    let last_slash = without_digest.rfind('/').map_or(0, |i| i + 1);
    match without_digest
        .get(last_slash..)
        .and_then(|last| last.find(':'))
    {
        Some(colon) => without_digest
            .get(..last_slash + colon)
            .unwrap_or(without_digest),
        None => without_digest,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn vendor_namespaces() {
        for (id, want) in [
            ("debian", "debian"),
            ("Ubuntu", "ubuntu"),
            ("rhel", "redhat"),
            ("opensuse-leap", "opensuse"),
            ("opensuse-tumbleweed", "opensuse"),
            ("sles", "suse"),
            ("amzn", "amazon"),
            ("ol", "oracle"),
            ("fedora", "fedora"),
        ] {
            assert_eq!(super::vendor(id), want, "{id}");
        }
    }

    use super::*;
    use crate::model::Digest;

    fn pkg(kind: PackageKind, name: &str, version: &str, arch: &str) -> Package {
        Package {
            kind: Some(kind),
            name: name.into(),
            version: version.into(),
            arch: Some(arch.into()),
            ..Package::default()
        }
    }

    fn distro(id: &str, version: &str) -> Distro {
        Distro {
            id: id.into(),
            version: Some(version.into()),
            ..Distro::default()
        }
    }

    #[test]
    fn encoding_table() {
        for (input, want) in [
            ("1:2.38.1-5", "1%3A2.38.1-5"),
            ("2.36-9+deb12u4", "2.36-9%2Bdeb12u4"),
            ("1.0~rc1-1", "1.0~rc1-1"),
            ("1.0@beta", "1.0%40beta"),
            ("a b/c?d#e&f=g", "a%20b%2Fc%3Fd%23e%26f%3Dg"),
            ("ü", "%C3%BC"),
            ("plain_1.2", "plain_1.2"),
        ] {
            assert_eq!(encode(input), want, "{input}");
        }
    }

    #[test]
    fn package_purl_table() {
        let deb = distro("debian", "12.8");
        let alpine = distro("alpine", "3.20.3");
        let rhel = distro("rhel", "9.4");
        let ubuntu = distro("ubuntu", "22.04");
        let mut rpm_epoch = pkg(PackageKind::Rpm, "openssl-libs", "3.0.7-27.el9", "x86_64");
        rpm_epoch.epoch = Some(1);
        let mut rpm_zero = pkg(PackageKind::Rpm, "bash", "5.1.8-9.el9", "x86_64");
        rpm_zero.epoch = Some(0);
        let cases: Vec<(Package, Option<&Distro>, &str)> = vec![
            (
                pkg(PackageKind::Deb, "git", "1:2.38.1-5", "amd64"),
                Some(&deb),
                "pkg:deb/debian/git@1%3A2.38.1-5?arch=amd64&distro=debian-12.8",
            ),
            (
                pkg(PackageKind::Deb, "libstdc++6", "12.2.0-14+deb12u1", "amd64"),
                None,
                "pkg:deb/debian/libstdc%2B%2B6@12.2.0-14%2Bdeb12u1?arch=amd64",
            ),
            (
                pkg(PackageKind::Deb, "libc6", "2.36-9~bpo1", "amd64"),
                Some(&ubuntu),
                "pkg:deb/ubuntu/libc6@2.36-9~bpo1?arch=amd64&distro=ubuntu-22.04",
            ),
            (
                pkg(PackageKind::Apk, "musl", "1.2.5-r0", "x86_64"),
                Some(&alpine),
                "pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=alpine-3.20.3",
            ),
            (
                pkg(PackageKind::Apk, "busybox", "1.36.1-r29", "aarch64"),
                None,
                "pkg:apk/alpine/busybox@1.36.1-r29?arch=aarch64",
            ),
            (
                rpm_epoch,
                Some(&rhel),
                "pkg:rpm/redhat/openssl-libs@3.0.7-27.el9?arch=x86_64&distro=rhel-9.4&epoch=1",
            ),
            (
                rpm_zero,
                None,
                "pkg:rpm/bash@5.1.8-9.el9?arch=x86_64&epoch=0",
            ),
            (
                pkg(PackageKind::Rpm, "NetworkManager", "1.46.0-1.el9", "x86_64"),
                Some(&rhel),
                "pkg:rpm/redhat/NetworkManager@1.46.0-1.el9?arch=x86_64&distro=rhel-9.4",
            ),
        ];
        for (package, d, want) in cases {
            let got = package_purl(&package, d).map(|p| p.to_string());
            assert_eq!(got.as_deref(), Some(want), "{}", package.name);
        }
        assert_eq!(package_purl(&Package::default(), Some(&deb)), None);
    }

    #[test]
    fn scoped_names_and_qualifier_order() {
        let purl = Purl::new("npm", "core")
            .with_namespace("@angular")
            .with_version("16.0.0")
            .with_qualifier("Z", "last")
            .with_qualifier("a", "first")
            .with_qualifier("empty", "");
        assert_eq!(
            purl.to_string(),
            "pkg:npm/%40angular/core@16.0.0?a=first&z=last"
        );
        let mut with_subpath = Purl::new("golang", "text").with_namespace("golang.org/x/");
        with_subpath.subpath = vec!["unicode".into(), "..".into(), "norm".into()];
        assert_eq!(
            with_subpath.to_string(),
            "pkg:golang/golang.org/x/text#unicode/norm"
        );
    }

    #[test]
    fn image_purl_table() {
        let mut subject = Subject {
            kind: crate::model::SourceKind::Image,
            name: "registry.example:5000/team/app:1.0".into(),
            version: Some("1.0".into()),
            manifest_digest: Some(Digest("sha256:abc".into())),
            config_digest: None,
            repository: Some("registry.example:5000/team/app".into()),
            os: Some("linux".into()),
            architecture: Some("amd64".into()),
            variant: None,
            layers: Vec::new(),
        };
        assert_eq!(
            image_purl(&subject).map(|p| p.to_string()).as_deref(),
            Some(
                "pkg:oci/app@sha256%3Aabc?arch=amd64&repository_url=registry.example%3A5000%2Fteam%2Fapp"
            )
        );
        subject.repository = None;
        assert_eq!(
            image_purl(&subject).map(|p| p.to_string()).as_deref(),
            Some("pkg:oci/app@sha256%3Aabc?arch=amd64")
        );
        subject.manifest_digest = None;
        assert_eq!(image_purl(&subject), None);
    }

    #[test]
    fn strip_reference_table() {
        for (input, want) in [
            ("alpine", "alpine"),
            ("alpine:3.20", "alpine"),
            ("localhost:5000/app", "localhost:5000/app"),
            ("localhost:5000/app:1", "localhost:5000/app"),
            ("r.example/app@sha256:ab", "r.example/app"),
            ("r.example/app:1@sha256:ab", "r.example/app"),
        ] {
            assert_eq!(strip_reference(input), want, "{input}");
        }
    }
}
