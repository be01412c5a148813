#!/usr/bin/env python3
"""Builds the fuzz targets' seed corpora from the repository's own documents.

Usage: fuzz/seed_corpus.py OUT_DIR

Writes OUT_DIR/<target>/<name> files (named by content hash, so running it again adds
nothing twice). Nothing here is committed: the documents it reads are.

- expr_parse, expr_eval: expressions quoted in docs/*.md, string literals of core's expression
  tests, and the `expression` of every mapping in the schema documents; expr_parse also gets
  their `source` trees as JSON, expr_eval each expression with a NUL and a user of
  examples/source.json as its attributes.
- schema: examples/*.json and examples/microsoft/*.json that hold a schema, and the built-in one.
- job_config: examples/*.toml and the TOML blocks of docs/*.md.
- snapshot: examples/source.json, examples/target.json and the JSON blocks of docs/*.md.
- graph_response: hand-made seeds only (fuzz/seeds/graph_response).
"""

import glob
import hashlib
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def write(out, target, data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def walk(value, key):
    """Every value stored under `key` anywhere in a JSON document."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k == key:
                yield v
            yield from walk(v, key)
    elif isinstance(value, list):
        for v in value:
            yield from walk(v, key)


def json_documents():
    paths = sorted(glob.glob(os.path.join(ROOT, "examples", "*.json")))
    paths += sorted(glob.glob(os.path.join(ROOT, "examples", "microsoft", "*.json")))
    paths.append(os.path.join(ROOT, "core", "src", "schema", "default_schema.json"))
    for p in paths:
        try:
            yield p, read(p), json.loads(read(p).lstrip("\ufeff"))
        except (OSError, ValueError):
            continue


def fenced_blocks(lang):
    for p in sorted(glob.glob(os.path.join(ROOT, "docs", "*.md"))) + [os.path.join(ROOT, "README.md")]:
        if os.path.exists(p):
            yield from re.findall(r"```" + lang + r"\n(.*?)```", read(p), re.S)


def doc_expressions():
    for p in sorted(glob.glob(os.path.join(ROOT, "docs", "*.md"))):
        for span in re.findall(r"`([^`\n]+)`", read(p)):
            if "(" in span or span.startswith("["):
                yield span


def test_expressions():
    p = os.path.join(ROOT, "core", "src", "expr", "tests.rs")
    if not os.path.exists(p):
        return
    text = read(p)
    for raw in re.findall(r'r#"(.*?)"#', text, re.S):
        if "(" in raw or raw.startswith("["):
            yield raw
    for lit in re.findall(r'(?<![r#])"((?:[^"\\\n]|\\.)*)"', text):
        try:
            value = json.loads('"' + lit + '"')
        except ValueError:
            continue
        if "(" in value or value.startswith("["):
            yield value


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: seed_corpus.py OUT_DIR")
    out = sys.argv[1]
    docs = list(json_documents())
    try:
        users = json.loads(read(os.path.join(ROOT, "examples", "source.json"))).get("users", [])
    except (OSError, ValueError):
        users = []
    expressions = set(doc_expressions()) | set(test_expressions())
    for _, _, doc in docs:
        expressions.update(e for e in walk(doc, "expression") if isinstance(e, str))
        for tree in walk(doc, "source"):
            if isinstance(tree, dict) and "type" in tree:
                write(out, "expr_parse", json.dumps(tree))
    for i, e in enumerate(sorted(expressions)):
        write(out, "expr_parse", e)
        write(out, "expr_eval", e)
        if users:
            write(out, "expr_eval", e + "\0" + json.dumps(users[i % len(users)]))
    for path, text, doc in docs:
        if isinstance(doc, dict) and (
            "synchronizationRules" in doc or "directories" in doc or "schema" in doc
        ):
            write(out, "schema", text)
        if isinstance(doc, dict) and ("users" in doc or "groups" in doc):
            write(out, "snapshot", text)
    for p in sorted(glob.glob(os.path.join(ROOT, "examples", "*.toml"))):
        write(out, "job_config", read(p))
    for block in fenced_blocks("toml"):
        write(out, "job_config", block)
    for block in fenced_blocks("json"):
        try:
            doc = json.loads(block)
        except ValueError:
            continue
        if isinstance(doc, dict) and ("users" in doc or "groups" in doc):
            write(out, "snapshot", block)
        if isinstance(doc, dict) and ("synchronizationRules" in doc or "directories" in doc):
            write(out, "schema", block)


if __name__ == "__main__":
    main()
