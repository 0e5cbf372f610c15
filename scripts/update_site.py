"""The ImageJ updater's file index (``db.xml.gz``) and its checksums, written from the updater's documented
behaviour (net.imagej.updater: ``UpdaterUtil.getDigest``, ``XMLFileWriter``, ``XMLFileReader``, ``Checksummer``).

Checksums (what Fiji's updater computes on the user's disk and compares with the site's index):

* a ``.jar``: SHA-1 over its entries sorted by name (Java ``String`` order), each entry contributing its name
  (ASCII) then its bytes. Two entry kinds are filtered so that a rebuild with new build dates keeps the checksum:
  ``*.properties`` lose their comment lines (``#`` at a line start; the quirks of the updater's byte filter are
  kept, see ``_skip_hashed_lines``) and ``META-INF/MANIFEST.MF`` contributes no bytes at all (the updater's
  "keep only Main-Class" filter compares an upper-cased line with a mixed-case prefix, so it keeps nothing).
* any other file: SHA-1 of its path relative to the Fiji folder (ASCII) followed by its bytes.

An update site is served as ``db.xml.gz`` plus each file under ``<path>-<timestamp>`` (the updater downloads
``URL + filename + "-" + timestamp``); timestamps are ``yyyyMMddHHmmss``. Platform-specific files carry
``<platform>`` tags and, by the updater's convention, live in ``jars/<platform>/``.
"""

from __future__ import annotations

import gzip
import hashlib
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

# Platform names the updater knows (net.imagej.updater.util.Platforms), for files in jars/<platform>/.
PLATFORMS = ("linux64", "linux-arm64", "macos64", "macos-arm64", "win64")


def _ascii(name: str) -> bytes:
    # Java's String.getBytes("ASCII") writes '?' for anything outside ASCII.
    return name.encode("ascii", errors="replace")


def _java_sort_key(name: str) -> list[int]:
    # Java compares Strings by UTF-16 code units; differs from Python's code-point order only above U+FFFF.
    return list(name.encode("utf-16-be"))


def _skip_hashed_lines(data: bytes) -> bytes:
    """The updater's filter for .properties entries, byte for byte.

    It drops a line that starts with '#', except its final newline; and a newline read while at a line start
    (an empty line, or the newline of a line that was only '#') does not re-arm the line-start state, so the
    line after it is kept even if it starts with '#'. Reproduced as a state machine rather than "tidied", since
    the checksum must equal the updater's.
    """
    out = bytearray()
    at_line_start = True
    i, n = 0, len(data)

    def read() -> int:
        nonlocal i, at_line_start
        if i >= n:
            ch = -1
        else:
            ch = data[i]
            i += 1
        if at_line_start:
            if ch == 0x23:  # '#': swallow (through nested reads) up to the newline, which is returned
                while True:
                    ch = read()
                    if ch in (0x0A, -1):
                        break
            else:
                at_line_start = False
        elif ch == 0x0A:
            at_line_start = True
        return ch

    while (ch := read()) != -1:
        out.append(ch)
    return bytes(out)


def jar_checksum(jar: Path) -> str:
    digest = hashlib.sha1()
    with zipfile.ZipFile(jar) as zf:
        for info in sorted(zf.infolist(), key=lambda e: _java_sort_key(e.filename)):
            digest.update(_ascii(info.filename))
            data = b"" if info.is_dir() else zf.read(info)
            if info.filename.endswith(".properties"):
                data = _skip_hashed_lines(data)
            if info.filename == "META-INF/MANIFEST.MF":
                data = b""
            digest.update(data)
    return digest.hexdigest()


def checksum(rel_path: str, file: Path) -> str:
    """The checksum Fiji's updater records for ``file`` installed at ``rel_path`` (relative to Fiji.app)."""
    if rel_path.endswith(".jar"):
        return jar_checksum(file)
    digest = hashlib.sha1(_ascii(rel_path))
    with file.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def platform_of(rel_path: str) -> str | None:
    """``jars/<platform>/x.jar`` → platform (the updater's Checksummer.guessPlatform convention)."""
    parts = rel_path.split("/")
    if len(parts) >= 3 and parts[0] in ("jars", "lib") and parts[1] in PLATFORMS:
        return parts[1]
    return None


@dataclass
class Entry:
    filename: str  # relative to Fiji.app, with its version (as installed)
    checksum: str
    timestamp: str  # yyyyMMddHHmmss
    filesize: int
    description: str | None = None
    platforms: list[str] = field(default_factory=list)
    dependencies: list[str] = field(default_factory=list)  # filenames of other entries
    authors: list[str] = field(default_factory=list)


_DTD = """<!DOCTYPE pluginRecords [
<!ELEMENT pluginRecords ((update-site | disabled-update-site)*, plugin*)>
<!ELEMENT update-site EMPTY>
<!ELEMENT disabled-update-site EMPTY>
<!ELEMENT plugin (platform*, category*, version?, previous-version*)>
<!ELEMENT version (description?, dependency*, link*, author*)>
<!ELEMENT previous-version EMPTY>
<!ELEMENT description (#PCDATA)>
<!ELEMENT dependency EMPTY>
<!ELEMENT link (#PCDATA)>
<!ELEMENT author (#PCDATA)>
<!ELEMENT platform (#PCDATA)>
<!ELEMENT category (#PCDATA)>
<!ATTLIST plugin filename CDATA #REQUIRED>
<!ATTLIST plugin executable CDATA #IMPLIED>
<!ATTLIST dependency filename CDATA #REQUIRED>
<!ATTLIST dependency timestamp CDATA #IMPLIED>
<!ATTLIST dependency overrides CDATA #IMPLIED>
<!ATTLIST version timestamp CDATA #REQUIRED>
<!ATTLIST version checksum CDATA #REQUIRED>
<!ATTLIST version filesize CDATA #REQUIRED>
<!ATTLIST previous-version filename CDATA #IMPLIED>
<!ATTLIST previous-version timestamp CDATA #REQUIRED>
<!ATTLIST previous-version timestamp-obsolete CDATA #IMPLIED>
<!ATTLIST previous-version checksum CDATA #REQUIRED>]>
"""


def db_xml(entries: list[Entry]) -> str:
    """The update site's index (the remote form: no update-site elements, no update-site attribute)."""
    by_name = {e.filename: e for e in entries}
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', _DTD.rstrip("\n"), "<pluginRecords>"]
    for e in entries:
        lines.append(f"    <plugin filename={quoteattr(e.filename)}>")
        lines += [f"        <platform>{escape(p)}</platform>" for p in e.platforms]
        lines.append(f'        <version checksum="{e.checksum}" filesize="{e.filesize}" timestamp="{e.timestamp}">')
        if e.description:
            lines.append(f"            <description>{escape(e.description)}</description>")
        for dep in e.dependencies:
            lines.append(f"            <dependency filename={quoteattr(dep)} timestamp=\"{by_name[dep].timestamp}\"/>")
        lines += [f"            <author>{escape(a)}</author>" for a in e.authors]
        lines += ["        </version>", "    </plugin>"]
    lines.append("</pluginRecords>")
    return "\n".join(lines) + "\n"


def write_db(path: Path, entries: list[Entry]) -> None:
    part = path.with_name(path.name + ".part")
    # mtime=0: the same tree gives the same bytes
    with open(part, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(db_xml(entries).encode("utf-8"))
    part.replace(path)


def read_db(path: Path) -> list[Entry]:
    """Parse a ``db.xml.gz`` the way the updater's XMLFileReader reads it (plugins, versions, dependencies)."""
    root = ET.fromstring(gzip.decompress(path.read_bytes()))
    out = []
    for plugin in root.iter("plugin"):
        version = plugin.find("version")
        if version is None:
            raise ValueError(f"{plugin.get('filename')}: no <version>")
        desc = version.find("description")
        out.append(Entry(
            filename=plugin.get("filename"), checksum=version.get("checksum"), timestamp=version.get("timestamp"),
            filesize=int(version.get("filesize")), description=desc.text if desc is not None else None,
            platforms=[p.text for p in plugin.findall("platform")],
            dependencies=[d.get("filename") for d in version.findall("dependency")],
            authors=[a.text for a in version.findall("author")]))
    return out
