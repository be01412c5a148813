#!/usr/bin/env python3
"""Static checks of the TenantSync PowerShell module, for machines without pwsh.

    python powershell/check.py [--library PATH ...] [--bindings PATH]

Parses every .ps1, .psm1 and .psd1 under powershell/ and examples/ with the tree-sitter PowerShell grammar
(tree-sitter and tree-sitter-powershell from PyPI, pinned in tests/python/requirements.txt) and
checks what a PowerShell author would otherwise learn only by importing the module:

- every file parses without an error node;
- the manifest: RootModule, ModuleVersion equal to the workspace version, PowerShellVersion 7.2,
  CompatiblePSEditions 'Core', FormatsToProcess files that exist, Windows/Linux/MacOS tags, and
  FunctionsToExport equal to the commands of Public/ (one command per file, named as the file);
- every function's verb is an approved PowerShell verb;
- every top-level function has comment-based help: .SYNOPSIS, .DESCRIPTION, a .PARAMETER for
  each parameter and for nothing else, and at least two .EXAMPLEs each followed by a sentence;
- every exported command whose verb changes state declares SupportsShouldProcess and calls
  $PSCmdlet.ShouldProcess; Reset-* commands declare ConfirmImpact High;
- every TenantSync.* type name the commands output has a view in the format file;
- every exported command has a Pester test file, and en-US/about_TenantSync.help.txt exists;
- every native function the hand-written C# wrapper calls is declared by the generated
  bindings, and every function the bindings declare is exported by each library given with
  --library (ELF with `nm -D`, PE with `objdump -p`).

With --package DIR (what scripts/package-module wrote), it checks the packaged module
DIR/TenantSync instead, with its own bindings and every library under its runtimes/, and the
zip Azure Automation imports: DIR/TenantSync.zip holds exactly the files of DIR/TenantSync under
a TenantSync/ folder (zip, folder and manifest share the module's name), the linux-x64 library
(and win-x64's with --require-windows), and stays under Automation's 100 MB limit.

Prints one line per failure and a closing count; exits 1 when anything failed.

The grammar is stricter than PowerShell in one known place: a list of bare words as a command
argument (`Format-List Name, Status`) is an error node; quote the words
(`Format-List 'Name', 'Status'`).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import tree_sitter
import tree_sitter_powershell

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MODULE = HERE / "TenantSync"
DEFAULT_BINDINGS = REPO / "ffi" / "bindings" / "TenantSync.Native.cs"
WRAPPER_FILES = ("TenantSync.Interop.cs", "TenantSync.Run.cs")

# Get-Verb of PowerShell 7.2: the approved verbs (https://learn.microsoft.com/powershell/scripting/developer/cmdlet/approved-verbs-for-windows-powershell-commands).
APPROVED_VERBS = frozenset(
    """
    Add Clear Close Copy Enter Exit Find Format Get Hide Join Lock Move New Open Optimize Pop
    Push Redo Remove Rename Reset Resize Search Select Set Show Skip Split Step Switch Undo
    Unlock Watch
    Connect Disconnect Read Receive Send Write
    Backup Checkpoint Compare Compress Convert ConvertFrom ConvertTo Dismount Edit Expand Export
    Group Import Initialize Limit Merge Mount Out Publish Restore Save Sync Unpublish Update
    Debug Measure Ping Repair Resolve Test Trace
    Approve Assert Build Complete Confirm Deny Deploy Disable Enable Install Invoke Register
    Request Restart Resume Start Stop Submit Suspend Uninstall Unregister Wait
    Block Grant Protect Revoke Unblock Unprotect
    Use
    """.split()
)

# Verbs whose commands change something: they must support -WhatIf and -Confirm.
STATE_CHANGING_VERBS = frozenset(
    """
    Add Clear Copy Move New Remove Rename Reset Set Initialize Publish Restore Sync Unpublish
    Update Disable Enable Install Invoke Register Restart Resume Start Stop Submit Suspend
    Uninstall Unregister Grant Revoke Block Unblock Protect Unprotect Import Deploy
    """.split()
)

LANGUAGE = tree_sitter.Language(tree_sitter_powershell.language())
PARSER = tree_sitter.Parser(LANGUAGE)


class Checker:
    """Collects failures; each check adds to it."""

    def __init__(self) -> None:
        self.failures: list[str] = []
        self.checks = 0

    def check(self, ok: bool, message: str) -> bool:
        self.checks += 1
        if not ok:
            self.failures.append(message)
        return ok


def text(node) -> str:
    return node.text.decode("utf-8")


def walk(node):
    yield node
    for child in node.children:
        yield from walk(child)


def rel(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def parse(path: Path):
    return PARSER.parse(path.read_bytes())


def error_nodes(tree) -> list:
    """The error and missing nodes, the smallest (the most precise place) first."""
    found = [n for n in walk(tree.root_node) if n.type == "ERROR" or n.is_missing]
    return sorted(found, key=lambda n: (n.end_byte - n.start_byte, n.start_byte))


def string_value(node) -> str | None:
    """The value of a string literal node ('x' or "x" without interpolation)."""
    for n in walk(node):
        if n.type == "string_literal":
            raw = text(n)
            if len(raw) >= 2 and raw[0] in "'\"" and raw[-1] == raw[0]:
                return raw[1:-1]
    return None


def manifest_entries(tree) -> dict:
    """The top-level keys of a .psd1 hashtable, each with its value node."""
    entries = {}
    for node in walk(tree.root_node):
        if node.type == "hash_literal_expression":
            body = next((c for c in node.named_children if c.type == "hash_literal_body"), None)
            if body is None:
                continue
            for entry in body.named_children:
                if entry.type != "hash_entry":
                    continue
                key = next((c for c in entry.named_children if c.type == "key_expression"), None)
                value = entry.named_children[-1]
                if key is not None:
                    entries[text(key)] = value
            break
    return entries


def strings_in(node) -> list[str]:
    values = []
    for n in walk(node):
        if n.type == "string_literal":
            raw = text(n)
            values.append(raw[1:-1])
    return values


class Function:
    """A function definition found in a script."""

    def __init__(self, node, path: Path, top_level: bool) -> None:
        self.node = node
        self.path = path
        self.top_level = top_level
        name_node = next(c for c in node.named_children if c.type == "function_name")
        self.name = text(name_node)
        self.help = next((text(c) for c in node.named_children if c.type == "comment" and text(c).startswith("<#")), None)
        block = next((c for c in node.named_children if c.type == "script_block"), None)
        self.body = text(block) if block is not None else ""
        param_block = None
        if block is not None:
            param_block = next((c for c in block.named_children if c.type == "param_block"), None)
        self.parameters: list[str] = []
        self.cmdlet_binding: str | None = None
        if param_block is not None:
            for attribute in (a for a in walk(param_block) if a.type == "attribute"):
                name = next((c for c in attribute.named_children if c.type == "attribute_name"), None)
                if name is not None and text(name).lower() == "cmdletbinding" and attribute.parent.parent == param_block:
                    self.cmdlet_binding = text(attribute)
            parameter_list = next((c for c in param_block.named_children if c.type == "parameter_list"), None)
            if parameter_list is not None:
                for parameter in parameter_list.named_children:
                    if parameter.type == "script_parameter":
                        variable = next((c for c in parameter.named_children if c.type == "variable"), None)
                        if variable is not None:
                            self.parameters.append(text(variable).lstrip("$"))

    @property
    def verb(self) -> str:
        return self.name.split("-", 1)[0]


def functions_in(tree, path: Path) -> list[Function]:
    found = []
    for node in walk(tree.root_node):
        if node.type == "function_statement":
            top = node.parent is not None and node.parent.parent is not None and node.parent.parent.type == "program"
            found.append(Function(node, path, top))
    return found


def help_sections(comment: str) -> list[tuple[str, str, str]]:
    """(keyword, argument, body) for each .KEYWORD of a comment-based help block."""
    inner = comment[2:-2] if comment.endswith("#>") else comment[2:]
    sections: list[tuple[str, str, list[str]]] = []
    for line in inner.splitlines():
        match = re.match(r"^\s*\.([A-Za-z]+)\s*(\S*)\s*$", line)
        if match:
            sections.append((match.group(1).upper(), match.group(2), []))
        elif sections:
            sections[-1][2].append(line)
    return [(k, a, "\n".join(body).strip()) for k, a, body in sections]


def check_help(c: Checker, f: Function) -> None:
    where = f"{rel(f.path)}: {f.name}"
    if not c.check(f.help is not None, f"{where}: no comment-based help (<# .SYNOPSIS ... #>) after the function's opening line"):
        return
    sections = help_sections(f.help)
    keywords = [k for k, _, _ in sections]
    for required in ("SYNOPSIS", "DESCRIPTION"):
        body = next((b for k, _, b in sections if k == required), "")
        c.check(bool(body), f"{where}: help has no .{required} text")
    documented = [a for k, a, b in sections if k == "PARAMETER"]
    for k, a, b in sections:
        if k == "PARAMETER":
            c.check(bool(b), f"{where}: .PARAMETER {a} has no text")
    declared = {p.lower() for p in f.parameters}
    for p in f.parameters:
        c.check(p.lower() in {d.lower() for d in documented}, f"{where}: parameter -{p} has no .PARAMETER {p} in the help")
    for d in documented:
        c.check(d.lower() in declared, f"{where}: .PARAMETER {d} documents a parameter the function does not declare")
    examples = [b for k, _, b in sections if k == "EXAMPLE"]
    c.check(len(examples) >= 2, f"{where}: help has {len(examples)} .EXAMPLE(s); write at least two")
    for i, example in enumerate(examples, 1):
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", example) if p.strip()]
        ok = len(paragraphs) >= 2 and paragraphs[-1].rstrip().endswith(".")
        c.check(ok, f"{where}: .EXAMPLE {i} must be the command, a blank line, then a sentence saying what happens")
    c.check("SYNOPSIS" in keywords[:1], f"{where}: help must start with .SYNOPSIS")


def check_parses(c: Checker, files: list[Path]) -> dict:
    trees = {}
    for path in files:
        tree = parse(path)
        errors = error_nodes(tree)
        if c.check(not errors, f"{rel(path)}: does not parse" + (
            f" (line {errors[0].start_point[0] + 1}, column {errors[0].start_point[1] + 1}: {text(errors[0])[:60]!r})" if errors else "")):
            trees[path] = tree
    return trees


def workspace_version() -> str | None:
    cargo = (REPO / "Cargo.toml").read_text()
    match = re.search(r"^\[workspace\.package\][^\[]*?^version\s*=\s*\"([^\"]+)\"", cargo, re.M | re.S)
    return match.group(1) if match else None


def check_manifest(c: Checker, trees: dict, public: dict) -> None:
    manifest = MODULE / "TenantSync.psd1"
    if not c.check(manifest in trees, f"{rel(manifest)}: missing or unparsable"):
        return
    entries = manifest_entries(trees[manifest])
    where = rel(manifest)

    def value(key: str):
        node = entries.get(key)
        return None if node is None else string_value(node)

    c.check(value("RootModule") == "TenantSync.psm1", f"{where}: RootModule must be 'TenantSync.psm1'")
    version = workspace_version()
    c.check(value("ModuleVersion") == version, f"{where}: ModuleVersion {value('ModuleVersion')!r} differs from the workspace version {version!r} (Cargo.toml)")
    c.check(value("PowerShellVersion") == "7.2", f"{where}: PowerShellVersion must be '7.2'")
    editions = strings_in(entries["CompatiblePSEditions"]) if "CompatiblePSEditions" in entries else []
    c.check(editions == ["Core"], f"{where}: CompatiblePSEditions must be @('Core'), found {editions}")
    formats = strings_in(entries["FormatsToProcess"]) if "FormatsToProcess" in entries else []
    c.check(bool(formats), f"{where}: FormatsToProcess names no format file")
    for fmt in formats:
        c.check((MODULE / fmt).is_file(), f"{where}: FormatsToProcess names {fmt}, which does not exist")
    tags_node = next((n for n in walk(entries["PrivateData"]) if n.type == "hash_entry" and text(n).startswith("Tags")), None) if "PrivateData" in entries else None
    tags = strings_in(tags_node) if tags_node is not None else []
    for tag in ("Windows", "Linux", "MacOS", "PSEdition_Core"):
        c.check(tag in tags, f"{where}: PrivateData.PSData.Tags lacks {tag!r}")
    exported = strings_in(entries["FunctionsToExport"]) if "FunctionsToExport" in entries else []
    c.check("*" not in "".join(exported), f"{where}: FunctionsToExport must list the commands, not a wildcard")
    missing = sorted(set(public) - set(exported))
    extra = sorted(set(exported) - set(public))
    c.check(not missing, f"{where}: FunctionsToExport lacks the Public/ command(s) {missing}")
    c.check(not extra, f"{where}: FunctionsToExport names {extra}, which Public/ does not define")
    for key in ("CmdletsToExport", "VariablesToExport", "AliasesToExport"):
        c.check(key in entries and strings_in(entries[key]) == [], f"{where}: {key} must be @() (explicit, so auto-loading stays fast)")


def check_public(c: Checker, trees: dict) -> dict:
    """Public/<Name>.ps1 defines exactly the function <Name>; returns name -> Function."""
    public = {}
    for path in sorted((MODULE / "Public").glob("*.ps1")):
        if path not in trees:
            continue
        top = [f for f in functions_in(trees[path], path) if f.top_level]
        names = [f.name for f in top]
        if c.check(names == [path.stem], f"{rel(path)}: must define exactly one function, {path.stem}; defines {names}"):
            public[path.stem] = top[0]
    return public


def check_functions(c: Checker, trees: dict, public: dict) -> None:
    for path, tree in trees.items():
        if path.suffix != ".ps1":
            continue
        for f in functions_in(tree, path):
            c.check("-" in f.name and f.verb in APPROVED_VERBS,
                    f"{rel(path)}: {f.name}: '{f.verb}' is not an approved PowerShell verb (Get-Verb lists them)")
            if f.top_level:
                check_help(c, f)
                c.check(f.cmdlet_binding is not None, f"{rel(path)}: {f.name}: declare [CmdletBinding()] so it is an advanced function")
    for name, f in public.items():
        where = f"{rel(f.path)}: {name}"
        binding = f.cmdlet_binding or ""
        supports = re.search(r"SupportsShouldProcess(\s*=\s*\$true)?\b", binding, re.I) is not None
        if f.verb in STATE_CHANGING_VERBS:
            c.check(supports, f"{where}: changes state, so [CmdletBinding(SupportsShouldProcess)] is required")
        if f.verb == "Reset":
            c.check(re.search(r"ConfirmImpact\s*=\s*'High'", binding) is not None, f"{where}: resets state, so ConfirmImpact = 'High' is required")
        if supports:
            c.check("$PSCmdlet.ShouldProcess(" in f.body, f"{where}: declares SupportsShouldProcess but never calls $PSCmdlet.ShouldProcess(...)")


def check_formats(c: Checker, trees: dict) -> None:
    fmt = MODULE / "TenantSync.format.ps1xml"
    if not c.check(fmt.is_file(), f"{rel(fmt)}: missing"):
        return
    views = set(re.findall(r"<TypeName>\s*(TenantSync\.[A-Za-z]+)\s*</TypeName>", fmt.read_text()))
    used = set()
    for path in trees:
        source = path.read_text()
        used |= set(re.findall(r"PSTypeName\s*=\s*'(TenantSync\.[A-Za-z]+)'", source))
        used |= {"TenantSync." + t for t in re.findall(r"Add-TenantSyncTypeName\s+(?:-TypeName\s+)?'?([A-Za-z]+)", source)}
        for declared in re.findall(r"OutputType\(([^)]*)\)", source):
            used |= set(re.findall(r"'(TenantSync\.[A-Za-z]+)'", declared))
    for type_name in sorted(used):
        c.check(type_name in views, f"{rel(fmt)}: no view for {type_name}, which the commands output")


def check_tests_and_docs(c: Checker, public: dict) -> None:
    for name in sorted(public):
        test = HERE / "tests" / f"{name}.Tests.ps1"
        c.check(test.is_file(), f"{rel(test)}: missing: every command has a Pester test file")
    about = MODULE / "en-US" / "about_TenantSync.help.txt"
    if c.check(about.is_file(), f"{rel(about)}: missing"):
        body = about.read_text()
        c.check(body.lstrip().startswith("TOPIC"), f"{rel(about)}: must start with TOPIC")
        for name in sorted(public):
            c.check(name in body, f"{rel(about)}: does not mention {name}")


def bindings_functions(path: Path) -> set[str]:
    source = path.read_text()
    return set(re.findall(r"extern\s+[^;(]*?\b(tenantsync_\w+)\s*\(", source, re.S))


def library_symbols(path: Path) -> set[str]:
    if path.suffix.lower() == ".dll":
        tools = ["x86_64-w64-mingw32-objdump", "objdump"]
        for tool in tools:
            try:
                out = subprocess.run([tool, "-p", str(path)], check=True, capture_output=True, text=True).stdout
            except (OSError, subprocess.CalledProcessError):
                continue
            table = out.split("[Ordinal/Name Pointer] Table", 1)
            if len(table) == 2:
                return set(re.findall(r"^\s*\[\s*\d+\]\s+(\S+)\s*$", table[1], re.M))
        raise RuntimeError(f"cannot read the export table of {path}: install binutils-mingw-w64-x86-64 (x86_64-w64-mingw32-objdump)")
    out = subprocess.run(["nm", "-D", "--defined-only", str(path)], check=True, capture_output=True, text=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.strip()}


def check_native(c: Checker, bindings: Path, libraries: list[Path]) -> None:
    if not c.check(bindings.is_file(), f"{rel(bindings)}: the generated C# bindings are missing (ffi/README.md; pass --bindings)"):
        return
    declared = bindings_functions(bindings)
    c.check(bool(declared), f"{rel(bindings)}: declares no tenantsync_* function")
    called = set()
    for name in WRAPPER_FILES:
        wrapper = MODULE / "Native" / name
        if not c.check(wrapper.is_file(), f"{rel(wrapper)}: missing"):
            continue
        calls = set(re.findall(r"\bFfi\.(tenantsync_\w+)\s*\(", wrapper.read_text()))
        for function in sorted(calls - declared):
            c.check(False, f"{rel(wrapper)}: calls {function}, which the generated bindings do not declare")
        called |= calls
    c.check(bool(called), f"{rel(MODULE / 'Native')}: the C# layer calls no native function")
    if not libraries:
        c.check(False, "no native library given: build one (cargo build -p tenantsync-ffi) and pass --library target/debug/libtenantsync_ffi.so")
    for library in libraries:
        if not c.check(library.is_file(), f"{library}: no such library; build it with cargo build -p tenantsync-ffi"):
            continue
        try:
            symbols = library_symbols(library)
        except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
            c.check(False, f"{library}: {e}")
            continue
        for name in sorted(declared):
            c.check(name in symbols, f"{library}: does not export {name}, which the C# bindings import")


AUTOMATION_LIMIT = 100 * 1024 * 1024
RUNTIMES = {"linux-x64": "libtenantsync_ffi.so", "win-x64": "tenantsync_ffi.dll"}


def check_package(c: Checker, dist: Path, public: dict, require_windows: bool) -> list[Path]:
    """Checks DIR/TenantSync.zip against DIR/TenantSync; returns the packaged libraries."""
    import zipfile

    module = dist / "TenantSync"
    archive = dist / "TenantSync.zip"
    libraries = []
    for rid, name in RUNTIMES.items():
        library = module / "runtimes" / rid / "native" / name
        if library.is_file():
            libraries.append(library)
        elif rid == "linux-x64" or require_windows:
            c.check(False, f"{library}: missing: the package must carry the {rid} library")
    if not c.check(archive.is_file(), f"{archive}: missing: run scripts/package-module"):
        return libraries
    size = archive.stat().st_size
    c.check(size < AUTOMATION_LIMIT, f"{archive}: {size} bytes, over Azure Automation's 100 MB module limit")
    with zipfile.ZipFile(archive) as z:
        names = [i.filename for i in z.infolist() if not i.is_dir()]
        c.check(z.testzip() is None, f"{archive}: a member is corrupt")
    c.check(all(n.startswith("TenantSync/") for n in names), f"{archive}: every entry must sit under TenantSync/ (the folder Automation imports)")
    c.check(all("\\" not in n for n in names), f"{archive}: entries must use forward slashes")
    on_disk = sorted(str(p.relative_to(dist)).replace(os.sep, "/") for p in module.rglob("*") if p.is_file())
    c.check(sorted(names) == on_disk, f"{archive}: differs from {module}: only in the zip {sorted(set(names) - set(on_disk))}, only on disk {sorted(set(on_disk) - set(names))}")
    required = ["TenantSync.psd1", "TenantSync.psm1", "TenantSync.format.ps1xml", "Native/TenantSync.Ffi.cs",
                "en-US/about_TenantSync.help.txt"] + [f"Native/{name}" for name in WRAPPER_FILES]
    required += [f"Public/{name}.ps1" for name in sorted(public)]
    required += [f"runtimes/linux-x64/native/{RUNTIMES['linux-x64']}"]
    if require_windows:
        required += [f"runtimes/win-x64/native/{RUNTIMES['win-x64']}"]
    for entry in required:
        c.check(f"TenantSync/{entry}" in names, f"{archive}: lacks TenantSync/{entry}")
    return libraries


def default_libraries() -> list[Path]:
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    candidate = target / "debug" / "libtenantsync_ffi.so"
    return [candidate] if candidate.is_file() else []


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--library", action="append", type=Path, default=[],
                        help="a built tenantsync library whose exports to check (repeatable); default: $CARGO_TARGET_DIR/debug/libtenantsync_ffi.so")
    parser.add_argument("--bindings", type=Path, default=DEFAULT_BINDINGS, help="the generated C# bindings")
    parser.add_argument("--module", type=Path, default=None, help="check this copy of the module folder instead of powershell/TenantSync")
    parser.add_argument("--package", type=Path, default=None, help="check the package scripts/package-module wrote in this folder (its module, libraries and zip)")
    parser.add_argument("--require-windows", action="store_true", help="with --package: the win-x64 library must be there")
    args = parser.parse_args(argv)

    global MODULE
    if args.package is not None:
        args.module = args.package / "TenantSync"
        args.bindings = args.module / "Native" / "TenantSync.Ffi.cs"
    if args.module is not None:
        MODULE = args.module.resolve()

    c = Checker()
    files = sorted(p for p in list(MODULE.rglob("*")) + list((HERE / "tests").rglob("*")) + list((REPO / "examples").rglob("*"))
                   if p.suffix in (".ps1", ".psm1", ".psd1") and p.is_file())
    c.check(bool(files), f"{rel(MODULE)}: no PowerShell files")
    trees = check_parses(c, files)
    module_trees = {p: t for p, t in trees.items() if MODULE in p.parents}
    public = check_public(c, module_trees)
    check_manifest(c, module_trees, public)
    check_functions(c, module_trees, public)
    check_formats(c, module_trees)
    check_tests_and_docs(c, public)
    libraries = args.library
    if args.package is not None:
        libraries = libraries + check_package(c, args.package.resolve(), public, args.require_windows)
    check_native(c, args.bindings, libraries or default_libraries())

    for failure in c.failures:
        print(f"FAIL {failure}")
    print(f"powershell/check.py: {c.checks - len(c.failures)} checks passed, {len(c.failures)} failed "
          f"({len(files)} files, {len(public)} commands)")
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
