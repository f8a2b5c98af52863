#!/usr/bin/env python3
"""Static check of the Redis scripts (common/lua/*.lua, notifier/lua/*.lua): every key a script
touches comes from KEYS, so a Redis Cluster can route the call by its keys
and no key name is built inside Lua. Each redis.call / redis.pcall names its
key as KEYS[...] directly (commands without a key: TIME), and no string
literal of a script looks like a key name of the store ("<name>:...").
The one exception is slot_key(...) of common/lua/window.lua, the prelude of
the scripts that keep a ticker's rolling windows: it builds a key from the
hash tag of KEYS[1], so in the slot of the declared keys (checked here: it is
defined there alone, from KEYS[1]'s tag).
That all KEYS of one call share a hash tag is checked at run time by
it_alert_store (its wrapped script calls)."""
import glob
import os
import re
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
LUA_DIRS = [os.path.join(HERE, "..", "..", d, "lua") for d in ("common", "notifier")]

KEYLESS = {"TIME"}
CALL = re.compile(r"redis\.p?call\(\s*(['\"])([A-Za-z]+)\1\s*(?:,\s*([^,)]+))?")
KEY_ARG = re.compile(r"^KEYS\[[^\]]+\]$")
SLOT_KEY = re.compile(r"^slot_key\(")
SLOT_KEY_DEF = re.compile(r"local win_tag = string\.match\(KEYS\[1\], '\{\[\^\}\]\*\}'\)\s*"
                          r"local function slot_key\(name, suffix\)\s*"
                          r"return name \.\. ':' \.\. win_tag \.\. suffix\s*end")
PRELUDE = "window.lua"
KEYLIKE = re.compile(r"(['\"])[a-z_]+:[^'\"]*\1")
# Prefixes of values, not keys: the notifier's claim "claim:<token>" and the
# answer "owner:<token>".
VALUE_PREFIXES = {"'claim:'", "'owner:'"}


def strip_comments(src):
    return "\n".join(line.split("--", 1)[0] for line in src.splitlines())


def problems(src, prelude=False):
    """What breaks the rule in one script's source: a list of strings
    (prelude: window.lua, the one allowed to build keys with slot_key)."""
    code = strip_comments(src)
    out = []
    calls = 0
    for m in CALL.finditer(code):
        calls += 1
        cmd, arg = m.group(2).upper(), (m.group(3) or "").strip()
        if cmd in KEYLESS:
            continue
        if prelude and SLOT_KEY.match(arg):
            continue
        if not KEY_ARG.match(arg):
            out.append(f"{cmd} on {arg or 'nothing'}: not a KEYS entry")
    if re.search(r"redis\.p?call\(", code) and calls == 0:
        out.append("a redis call this check cannot read")
    if len(re.findall(r"redis\.p?call\(", code)) != calls:
        out.append("a redis call whose command is not a literal")
    if re.search(r"\bslot_key\b|\bwin_tag\b", code) and not prelude:
        out.append("slot_key or win_tag outside window.lua")
    if prelude and not SLOT_KEY_DEF.search(code):
        out.append("slot_key not built from the hash tag of KEYS[1]")
    for m in KEYLIKE.finditer(code):
        if m.group(0) not in VALUE_PREFIXES:
            out.append(f"key-like literal {m.group(0)}")
    return out


def scripts():
    found = []
    for d in LUA_DIRS:
        mine = sorted(glob.glob(os.path.join(d, "*.lua")))
        assert mine, f"no scripts in {d}"
        found += mine
    return found


def test_every_script_uses_only_keys():
    bad = {}
    for path in scripts():
        p = problems(open(path, encoding="utf-8").read(), os.path.basename(path) == PRELUDE)
        if p:
            bad[os.path.basename(path)] = p
    assert not bad, f"scripts touching keys not passed in KEYS: {bad}"


def test_the_check_catches_built_keys():
    assert problems("redis.call('GET', 'alert:' .. ARGV[1])")
    assert problems("local k = KEYS[1]\nredis.call('HGET', k, 'x')")
    assert problems("redis.call(cmd, KEYS[1])")
    assert problems("local key = 'user_alerts:{' .. u .. '}'")
    assert not problems("redis.call('HGET', KEYS[2], ARGV[1]) -- 'alert:x'")
    assert not problems("local t = redis.call('TIME')")
    # slot_key: only in the prelude, only as built there
    assert problems("redis.call('DEL', slot_key('x', ''))")
    assert problems("local function slot_key(n, s) return n .. s end\n"
                    "redis.call('DEL', slot_key('x', ''))", prelude=True)
    prelude = open(os.path.join(LUA_DIRS[0], PRELUDE), encoding="utf-8").read()
    assert not problems(prelude, prelude=True)
    assert problems(prelude.replace("KEYS[1]", "ARGV[1]"), prelude=True)


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(HERE, "..", "lib"))
    import testkit  # noqa: E402

    sys.exit(testkit.pytest_main(__file__, sys.argv[1:]))
