#!/usr/bin/env python3
"""Checks config/schema.json against the loader (config/config.cpp) through their examples.

1. schema.json is a valid draft 2020-12 schema.
2. Every config/examples/*.yaml validates against it, and `notion-syncd check-config` accepts
   it (exit 0) with the ${ENV} variables it uses set to dummy values.
3. Broken variants are refused by both: the schema reports an error and check-config exits 78
   naming file:line:column.
4. The keys the loader reads at each level (listed by its "unknown key" errors) are the keys
   the schema allows there, so neither can drift from the other.
5. docs/errors.md's configuration table is exactly what check-config printed for the refused
   variants here (with --write it is rewritten), so the documented messages cannot drift.

Usage: config_examples.py --syncd PATH/notion-syncd [--config-dir config/] [--write]
Needs python3-jsonschema and python3-yaml (scripts/install-deps).
"""

import argparse
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import jsonschema
    import yaml
except ImportError as e:  # pragma: no cover - a setup problem, not a test failure
    sys.exit(f"config_examples: {e}; install python3-jsonschema python3-yaml (scripts/install-deps)")

EX_CONFIG = 78
failures = []
refusals = []  # (what, the message check-config printed, exit code) for docs/errors.md


def refused(what, path, result, workdir):
    """Keeps the first line naming `path` (or the first line) of a refusal, paths made generic."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    named = [line for line in lines if str(path) in line]
    line = (named or lines or [""])[0]
    line = line.replace(str(path), "config.yaml").replace(str(workdir), "/srv/x")
    line = re.sub(r"^\S+ (error|warning) ", "", line)  # a log line's time stamp and level
    line = line.strip()
    refusals.append((what, line, result.returncode))


def fail(what):
    failures.append(what)
    print(f"FAIL: {what}", file=sys.stderr)


def check_config(syncd, path, env):
    return subprocess.run([syncd, "check-config", "-c", str(path)], env=env,
                          capture_output=True, text=True, timeout=60)


def dummy_environment(text, workdir):
    """Dummy values for the ${VARS} of an example: real directories for *_DIR(ECTORY),
    a token file where token_file: points, a URL for *_URL, a token-like string otherwise."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    for name in sorted(set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}", text))):
        if name.endswith("_DIR") or name.endswith("DIRECTORY"):
            directory = workdir / name.lower()
            directory.mkdir(exist_ok=True)
            (directory / "notion_token").write_text("secret_dummy_token_from_file\n")
            env[name] = str(directory)
        elif name.endswith("_URL"):
            env[name] = "http://127.0.0.1:9"
        else:
            env[name] = "secret_dummy_" + name.lower()
    return env


# Where the examples point on a real machine, and the sandbox directories standing in for them:
# check-config checks the machine (files load, directories are writable), so each example is
# checked as a copy whose paths lead into the sandbox, with the files they name made there.
MACHINE_PATHS = ("/etc/notion-syncd", "/var/lib/notion-syncd", "/usr/share/notion-syncd")


def sandboxed(text, workdir):
    """The example's text with the machine paths moved under workdir/root, and the files it
    names there: the token, CA files (the system bundle), the state and working directories."""
    root = workdir / "root"
    for prefix in MACHINE_PATHS:
        (root / prefix.lstrip("/")).mkdir(parents=True, exist_ok=True)
        text = text.replace(prefix, str(root) + prefix)
    etc = root / "etc/notion-syncd"
    (etc / "notion_token").write_text("secret_dummy_token_from_file\n")
    for match in re.findall(re.escape(str(root)) + r"[^\s\"',\]}]*\.pem", text):
        shutil.copyfile("/etc/ssl/certs/ca-certificates.crt", match)
    if not re.search(r"^state:", text, re.M):  # the default, /var/lib/notion-syncd, moved too
        text += f"state:\n  dir: {root}/var/lib/notion-syncd\n"
    return text


def schema_errors(validator, document):
    return sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))


def check_examples(syncd, validator, examples, workdir):
    if not examples:
        fail("no examples found")
    for example in examples:
        text = example.read_text()
        document = yaml.safe_load(text)
        for error in schema_errors(validator, document):
            fail(f"{example.name}: schema: /{'/'.join(map(str, error.absolute_path))}: "
                 f"{error.message}")
        copy_path = workdir / example.name
        copy_path.write_text(sandboxed(text, workdir))
        env = dummy_environment(text, workdir)
        env.pop("CREDENTIALS_DIRECTORY", None)  # as from a shell: the fallback path is used
        result = check_config(syncd, copy_path, env)
        if result.returncode != 0:
            fail(f"{example.name}: check-config exited {result.returncode}: "
                 f"{result.stdout}{result.stderr}")
        elif not result.stdout.startswith("configuration OK"):
            fail(f"{example.name}: check-config printed {result.stdout!r}")
        else:
            print(f"ok: {example.name}: {result.stdout.strip()}")


# Broken variants of minimal.yaml: (what, change to the parsed document, expected message).
def broken_variants():
    def unknown_top(d):
        d["stat"] = {"dir": "/x"}

    def unknown_in_target(d):
        d["syncs"][0]["targets"][0]["colour"] = "red"

    def unknown_type(d):
        d["connectors"]["events"]["type"] = "postgress"

    def bad_duration(d):
        d["syncs"][0]["every"] = "30"

    def two_sources(d):
        d["syncs"][0]["source"]["page"] = d["syncs"][0]["source"]["data_source"]

    def bad_id(d):
        d["syncs"][0]["source"]["data_source"] = "not-an-id"

    def no_token(d):
        del d["notion"]["token"]

    def ratio(d):
        d["syncs"][0]["max_delete_ratio"] = 1.5

    def bad_fsync(d):
        d["connectors"]["events"]["fsync"] = "sometimes"

    def missing_path(d):
        del d["connectors"]["events"]["path"]

    def no_targets(d):
        d["syncs"][0]["targets"] = []

    def webhook_plain_http(d):
        d["connectors"]["events"] = {"type": "webhook", "url": "http://example.com/hook"}

    def exec_without_command(d):
        d["connectors"]["events"] = {"type": "exec", "cwd": "/tmp"}

    def two_way(d):
        d["syncs"][0]["targets"][0]["direction"] = "two-way"

    return [
        ("an unknown top-level key", unknown_top, "unknown key `stat`"),
        ("an unknown key in a target", unknown_in_target, "unknown key `colour`"),
        ("an unknown connector type", unknown_type, "unknown connector type `postgress`"),
        ("a duration without a unit", bad_duration, "expected a duration"),
        ("two sources", two_sources, "give exactly one of"),
        ("a bad id", bad_id, "is not a Notion id"),
        ("no token", no_token, "missing the Notion token"),
        ("max_delete_ratio over 1", ratio, "max_delete_ratio must be between 0 and 1"),
        ("a bad fsync", bad_fsync, "expected always, batch or never"),
        ("a connector without path", missing_path, "missing required key `path`"),
        ("a sync without targets", no_targets, "a sync needs at least one target"),
        ("a webhook over plain http off loopback", webhook_plain_http,
         "plain http:// is only allowed to loopback"),
        ("an exec connector without a command", exec_without_command,
         "missing required key `command`"),
        ("a two-way direction", two_way, "write `two_way:` with its settings"),
    ]


# Configurations the schema cannot judge, refused by check-config because of the machine or of
# where they point (what `run` would refuse).
def machine_variants(workdir):
    not_pem = workdir / "not-a-certificate.pem"
    not_pem.write_text("hello\n")

    def plain_http_notion(d):
        d["notion"]["base_url"] = "http://api.example.com"

    def unwritable_state(d):
        d["state"] = {"dir": "/proc/version/state"}

    def bad_ca(d):
        d["connectors"]["events"] = {"type": "webhook", "url": "https://example.com/hook",
                                     "ca_file": str(not_pem)}

    def missing_command(d):
        d["connectors"]["events"] = {"type": "exec", "command": [str(workdir / "nothing-here")]}

    return [
        ("notion.base_url over plain http off loopback", plain_http_notion,
         "plain http:// is only allowed to loopback"),
        ("a state.dir that cannot be created", unwritable_state,
         "set state.dir to a directory this user can write"),
        ("a webhook ca_file that does not load", bad_ca, "holds no PEM certificate"),
        ("an exec command that does not exist", missing_command, "no such file"),
    ]


def check_machine(syncd, minimal, workdir):
    base = yaml.safe_load(sandboxed(minimal.read_text(), workdir))
    env = dummy_environment(minimal.read_text(), workdir)
    for what, change, message in machine_variants(workdir):
        document = copy.deepcopy(base)
        change(document)
        path = workdir / "machine.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        result = check_config(syncd, path, env)
        if result.returncode != EX_CONFIG:
            fail(f"machine ({what}): check-config exited {result.returncode}, expected "
                 f"{EX_CONFIG}: {result.stdout}{result.stderr}")
        elif message not in result.stderr:
            fail(f"machine ({what}): check-config did not say {message!r}: {result.stderr}")
        elif not re.search(re.escape(str(path)) + r":\d+:\d+: ", result.stderr):
            fail(f"machine ({what}): no file:line:column in {result.stderr}")
        else:
            refused(what, path, result, workdir)
            print(f"ok: machine ({what}) refused with exit {EX_CONFIG}")
    # A literal secret other than the token in a world-readable file.
    document = copy.deepcopy(base)
    document["connectors"]["events"] = {"type": "webhook", "url": "https://example.com/hook",
                                        "secret": "literal-webhook-secret"}
    path = workdir / "readable.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    path.chmod(0o644)
    result = check_config(syncd, path, env)
    if result.returncode != EX_CONFIG or "connectors.events.secret" not in result.stderr:
        fail(f"a world-readable literal webhook secret: exit {result.returncode}: {result.stderr}")
    elif "literal-webhook-secret" in result.stdout + result.stderr:
        fail("the refusal of a world-readable secret printed the secret")
    else:
        path.chmod(0o640)
        result = check_config(syncd, path, env)
        if result.returncode != 0:
            fail(f"the same file at 0640: exit {result.returncode}: {result.stderr}")
        else:
            print("ok: a world-readable literal webhook secret refused, accepted at 0640")


def check_broken(syncd, validator, minimal, workdir):
    base = yaml.safe_load(sandboxed(minimal.read_text(), workdir))
    env = dummy_environment(minimal.read_text(), workdir)
    for what, change, message in broken_variants():
        document = copy.deepcopy(base)
        change(document)
        path = workdir / "broken.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        if not schema_errors(validator, document):
            fail(f"broken ({what}): the schema accepts it")
        result = check_config(syncd, path, env)
        if result.returncode != EX_CONFIG:
            fail(f"broken ({what}): check-config exited {result.returncode}, expected "
                 f"{EX_CONFIG}: {result.stdout}{result.stderr}")
        elif message not in result.stderr:
            fail(f"broken ({what}): check-config did not say {message!r}: {result.stderr}")
        elif not re.search(re.escape(str(path)) + r":\d+:\d+: ", result.stderr):
            fail(f"broken ({what}): no file:line:column in {result.stderr}")
        else:
            refused(what, path, result, workdir)
            print(f"ok: broken ({what}) refused with exit {EX_CONFIG}")
    # Not even YAML.
    path = workdir / "broken.yaml"
    path.write_text("notion: [\n")
    result = check_config(syncd, path, env)
    if result.returncode != EX_CONFIG or "YAML syntax error" not in result.stderr:
        fail(f"broken YAML: exit {result.returncode}: {result.stderr}")
    else:
        refused("not YAML (`notion: [`)", path, result, workdir)
    # A missing file.
    result = check_config(syncd, workdir / "missing.yaml", env)
    if result.returncode != EX_CONFIG:
        fail(f"missing file: exit {result.returncode}: {result.stderr}")
    else:
        refused("no such file", workdir / "missing.yaml", result, workdir)


BEGIN = "<!-- config_examples.py: begin -->"
END = "<!-- config_examples.py: end -->"


def check_errors_doc(path, write):
    rows = ["| input | what `notion-syncd check-config` prints (stderr) | exit |", "|---|---|---|"]
    for what, line, code in refusals:
        cell = line.replace("|", "\\|")
        rows.append(f"| {what} | {cell} | {code} |")
    table = "\n".join(rows)
    text = path.read_text()
    if BEGIN not in text or END not in text:
        fail(f"{path}: no {BEGIN} … {END} markers")
        return
    current = text[text.index(BEGIN) + len(BEGIN):text.index(END)].strip()
    if current == table:
        print(f"ok: {path.name} lists the {len(refusals)} configuration refusals as printed")
    elif write:
        path.write_text(text[:text.index(BEGIN) + len(BEGIN)] + "\n" + table + "\n" +
                        text[text.index(END):])
        print(f"wrote {path}")
    else:
        fail(f"{path} differs from what check-config prints now; rewrite it with "
             f"tests/config_examples.py --syncd <notion-syncd> --write")


def schema_keys(schema, node):
    """The keys a schema node allows, following $ref and the connector if/then branches."""
    if "$ref" in node:
        node = schema["$defs"][node["$ref"].split("/")[-1]]
    keys = set(node.get("properties", {}))
    for branch in node.get("allOf", []):
        keys |= schema_keys(schema, branch.get("then", {}))
    return keys


def check_drift(syncd, schema, workdir):
    """Puts an unknown key into every mapping and compares the loader's "expected one of"
    lists with the schema's properties at the same place."""
    document = {
        "notion": {"token": "secret_x", "budget": {"per_minute": 180, "zz": 1}, "zz": 1},
        "state": {"dir": "/tmp", "zz": 1},
        "control": {"listen": "127.0.0.1:1", "zz": 1},
        "connectors": {
            "j": {"type": "jsonl", "path": "/tmp/j.jsonl", "zz": 1},
            "s": {"type": "sqlite", "path": "/tmp/s.sqlite", "zz": 1},
            "p": {"type": "postgres", "dsn": "dbname=x", "zz": 1},
            "w": {"type": "webhook", "url": "https://example.com/hook", "zz": 1},
            "e": {"type": "exec", "command": ["true"], "zz": 1},
        },
        "syncs": [{
            "name": "x",
            "source": {"discover": "all", "zz": 1},
            "targets": [{"connector": "j", "zz": 1}],
            "zz": 1,
        }],
        "zz": 1,
    }
    d = schema["$defs"]
    props = schema["properties"]
    expected = {
        "": schema_keys(schema, schema),
        "notion": schema_keys(schema, props["notion"]),
        "notion.budget": schema_keys(schema, props["notion"]["properties"]["budget"]),
        "state": schema_keys(schema, props["state"]),
        "control": schema_keys(schema, props["control"]),
        "connectors.j": schema_keys(schema, d["jsonl_connector"]),
        "connectors.s": schema_keys(schema, d["sqlite_connector"]),
        "connectors.p": schema_keys(schema, d["postgres_connector"]),
        "connectors.w": schema_keys(schema, d["webhook_connector"]),
        "connectors.e": schema_keys(schema, d["exec_connector"]),
        "syncs[0]": schema_keys(schema, d["sync"]),
        "syncs[0].source": schema_keys(schema, d["source"]),
        "syncs[0].targets[0]": schema_keys(schema, d["target"]),
    }
    path = workdir / "drift.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    result = check_config(syncd, path, {"PATH": os.environ.get("PATH", "")})
    found = {}
    for line in result.stderr.splitlines():
        m = re.search(r":\d+:\d+: (?:(\S+): )?unknown key `zz` \(expected one of: ([^)]*)\)",
                      line)
        if m:
            found[m.group(1) or ""] = set(m.group(2).split(", "))
    for where, keys in expected.items():
        if where not in found:
            fail(f"drift: the loader reported no unknown key at `{where or 'top level'}`: "
                 f"{result.stderr}")
        elif found[where] != keys:
            fail(f"drift at `{where or 'top level'}`: the loader reads {sorted(found[where])}, "
                 f"the schema allows {sorted(keys)}")
    if not failures:
        print(f"ok: loader and schema agree on the keys of {len(expected)} mappings")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--syncd", required=True, help="the notion-syncd binary")
    parser.add_argument("--config-dir", default=str(Path(__file__).resolve().parent.parent /
                                                   "config"))
    parser.add_argument("--write", action="store_true", help="rewrite docs/errors.md's table")
    args = parser.parse_args()
    config_dir = Path(args.config_dir)
    schema = json.loads((config_dir / "schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    examples = sorted((config_dir / "examples").glob("*.yaml"))
    with tempfile.TemporaryDirectory(prefix="config_examples_") as tmp:
        workdir = Path(tmp)
        check_examples(args.syncd, validator, examples, workdir)
        check_broken(args.syncd, validator, config_dir / "examples" / "minimal.yaml", workdir)
        check_machine(args.syncd, config_dir / "examples" / "minimal.yaml", workdir)
        check_drift(args.syncd, schema, workdir)
    check_errors_doc(config_dir.parent / "docs" / "errors.md", args.write)
    if failures:
        print(f"{len(failures)} failure(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
