#!/usr/bin/env bash
# Seeds fuzz/corpus/java_archive/ with small real jars (Debian) and a nested one packed with zip.
set -euo pipefail
cd "$(dirname "$0")"
out=corpus/java_archive
mkdir -p "$out"
for j in /usr/share/java/atinject-jsr330-api-1.0.jar /usr/share/java/slf4j-api.jar; do
  [[ -f $j ]] && cp "$j" "$out/"
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/META-INF/maven/g/a" "$tmp/lib"
printf 'Implementation-Vendor-Id: g\r\nImplementation-Title: a\r\nImplementation-Version: 1\r\n\r\n' \
  >"$tmp/META-INF/MANIFEST.MF"
printf 'groupId=g\nartifactId=a\nversion=1\n' >"$tmp/META-INF/maven/g/a/pom.properties"
printf '<project><groupId>g</groupId><artifactId>a</artifactId><version>1</version><licenses><license><name>MIT</name></license></licenses></project>' \
  >"$tmp/META-INF/maven/g/a/pom.xml"
(cd "$tmp" && zip -q -r inner.jar META-INF && mv inner.jar lib/ && zip -q -r -0 nested.jar META-INF lib)
cp "$tmp/nested.jar" "$out/nested.jar"
(cd "$tmp" && zip -q -r -fz deflated64.jar META-INF) 2>/dev/null && cp "$tmp/deflated64.jar" "$out/zip64.jar" || true
