#!/usr/bin/env python3
"""Generates src/tokenizer/unicode_tables.c, the Unicode data the CLIP tokenizer
needs, from the Unicode Character Database files of Debian's `unicode-data`
package (/usr/share/unicode):

  UnicodeData.txt            general categories (L*, N*, Zs/Zl/Zp), canonical
                             combining classes, canonical decompositions,
                             simple lowercase mappings
  SpecialCasing.txt          unconditional multi-character lowercase mappings
  CompositionExclusions.txt  decompositions that NFC does not recompose
  DerivedNormalizationProps.txt, PropList.txt
                             only used to cross-check what is derived above

The output is deterministic (no dates or paths), so a test can regenerate it
and diff it against the committed copy:

  python3 tools/gen_unicode_tables.py [--ucd DIR] [--out FILE]
"""
import argparse
import os
import re
import sys

MAX_CP = 0x10FFFF

# Character classes of the tokenizer's pre-tokenisation regex.
CLS_OTHER, CLS_LETTER, CLS_NUMBER, CLS_SPACE = 0, 1, 2, 3


def fail(msg):
    sys.stderr.write("gen_unicode_tables: %s\n" % msg)
    sys.exit(1)


def read_lines(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().split("\n")
    except OSError as e:
        fail("cannot read %s: %s (install Debian's unicode-data package)" % (path, e))


def data_lines(path):
    """Non-comment, non-empty lines with the trailing comment removed."""
    for line in read_lines(path):
        line = line.split("#", 1)[0].strip()
        if line:
            yield line


def parse_range(s):
    s = s.strip()
    if ".." in s:
        a, b = s.split("..")
        return int(a, 16), int(b, 16)
    return int(s, 16), int(s, 16)


def load_unicode_data(ucd):
    """Returns (category, ccc, decomposition, lower) dicts keyed by code point."""
    category = {}
    ccc = {}
    decomp = {}
    lower = {}
    first = None
    for line in read_lines(os.path.join(ucd, "UnicodeData.txt")):
        if not line:
            continue
        f = line.split(";")
        if len(f) != 15:
            fail("UnicodeData.txt: malformed line %r" % line)
        cp = int(f[0], 16)
        name, cat, cc = f[1], f[2], int(f[3])
        if name.endswith(", First>"):
            first = (cp, cat, cc)
            continue
        if name.endswith(", Last>"):
            if first is None or first[1] != cat:
                fail("UnicodeData.txt: unmatched range end at %04X" % cp)
            for c in range(first[0], cp + 1):
                category[c] = cat
                if cc:
                    ccc[c] = cc
            first = None
            continue
        category[cp] = cat
        if cc:
            ccc[cp] = cc
        if f[5] and not f[5].startswith("<"):
            decomp[cp] = [int(x, 16) for x in f[5].split()]
        if f[13]:
            lower[cp] = int(f[13], 16)
    return category, ccc, decomp, lower


def load_special_lower(ucd, simple_lower):
    """Unconditional SpecialCasing lowercase mappings that differ from the simple one."""
    special = {}
    for line in data_lines(os.path.join(ucd, "SpecialCasing.txt")):
        f = [x.strip() for x in line.split(";")]
        # code; lower; title; upper; [condition_list;]
        if len(f) >= 5 and f[4]:
            continue  # conditional (language or context): not applied by a plain lowercase
        cp = int(f[0], 16)
        low = [int(x, 16) for x in f[1].split()]
        if low != [simple_lower.get(cp, cp)]:
            special[cp] = low
    return special


def load_property(ucd, fname, prop):
    s = set()
    for line in data_lines(os.path.join(ucd, fname)):
        f = [x.strip() for x in line.split(";")]
        if len(f) >= 2 and f[1] == prop:
            a, b = parse_range(f[0])
            s.update(range(a, b + 1))
    return s


def unicode_version(ucd):
    for line in read_lines(os.path.join(ucd, "DerivedNormalizationProps.txt"))[:3]:
        m = re.search(r"DerivedNormalizationProps-(\d+\.\d+\.\d+)\.txt", line)
        if m:
            return m.group(1)
    fail("cannot find the Unicode version in DerivedNormalizationProps.txt")


def breaks(values):
    """[(start, value)] for every point where a per-code-point value changes."""
    out = []
    prev = None
    for cp, v in enumerate(values):
        if v != prev:
            out.append((cp, v))
            prev = v
    return out


def lower_runs(lower):
    """Groups simple lowercase mappings into runs: first, count, stride (1 or 2), delta."""
    cps = sorted(c for c in lower if lower[c] != c)
    runs = []
    i = 0
    while i < len(cps):
        first = cps[i]
        delta = lower[first] - first
        count, stride = 1, 1
        if i + 1 < len(cps):
            gap = cps[i + 1] - first
            if gap in (1, 2) and lower[cps[i + 1]] - cps[i + 1] == delta:
                stride = gap
                count = 2
                while (i + count < len(cps) and cps[i + count] == first + count * stride
                       and lower[cps[i + count]] - cps[i + count] == delta and count < 65535):
                    count += 1
        runs.append((first, count, stride, delta))
        i += count
    return runs


def emit_array(out, ctype, name, items, per_line, fmt):
    out.append("const %s %s[%d] = {" % (ctype, name, len(items)))
    for i in range(0, len(items), per_line):
        out.append("    " + " ".join(fmt(x) + "," for x in items[i:i + per_line]))
    out.append("};")
    out.append("const size_t %s_len = %d;" % (name, len(items)))
    out.append("")


def generate(ucd):
    category, ccc, decomp, lower = load_unicode_data(ucd)
    special_lower = load_special_lower(ucd, lower)
    exclusions = set()
    for line in data_lines(os.path.join(ucd, "CompositionExclusions.txt")):
        a, b = parse_range(line)
        exclusions.update(range(a, b + 1))
    version = unicode_version(ucd)

    # Classes. \s is Oniguruma's (the regex engine of the reference tokenizer)
    # Unicode definition: U+0009..U+000D, U+0085 and the Zs, Zl, Zp categories.
    cls = [CLS_OTHER] * (MAX_CP + 1)
    for cp, cat in category.items():
        if cat[0] == "L":
            cls[cp] = CLS_LETTER
        elif cat[0] == "N":
            cls[cp] = CLS_NUMBER
        elif cat in ("Zs", "Zl", "Zp"):
            cls[cp] = CLS_SPACE
    for cp in list(range(0x09, 0x0E)) + [0x85]:
        cls[cp] = CLS_SPACE
    white = load_property(ucd, "PropList.txt", "White_Space")
    spaces = {cp for cp in range(MAX_CP + 1) if cls[cp] == CLS_SPACE}
    if spaces != white:
        fail("whitespace derived from categories differs from White_Space: %s" %
             sorted(spaces ^ white))

    cccv = [0] * (MAX_CP + 1)
    for cp, v in ccc.items():
        cccv[cp] = v

    # Primary composites: two-element canonical decompositions that are not
    # composition exclusions, singletons or non-starter decompositions.
    comp = []
    excluded = set()
    for cp, d in decomp.items():
        if len(d) != 2:
            continue
        if cp in exclusions or ccc.get(cp, 0) != 0 or ccc.get(d[0], 0) != 0:
            excluded.add(cp)
            continue
        comp.append((d[0], d[1], cp))
    full_excl = load_property(ucd, "DerivedNormalizationProps.txt", "Full_Composition_Exclusion")
    if excluded != {cp for cp in full_excl if len(decomp.get(cp, [])) == 2}:
        fail("composition exclusions disagree with Full_Composition_Exclusion")
    for cp, d in decomp.items():
        if len(d) not in (1, 2):
            fail("canonical decomposition of %04X has %d elements" % (cp, len(d)))
    for cp in special_lower:
        if len(special_lower[cp]) > 3:
            fail("lowercase of %04X is longer than 3" % cp)

    cls_breaks = breaks(cls)
    ccc_breaks = breaks(cccv)
    runs = lower_runs(lower)

    out = []
    out.append("/* Generated by tools/gen_unicode_tables.py from the Unicode Character Database")
    out.append(" * %s (Debian unicode-data). Do not edit; regenerate instead." % version)
    out.append(" * A test (tests/tok_unicode_tables.sh) checks that it is current. */")
    out.append('#include "tokenizer/unicode.h"')
    out.append("")
    out.append('const char uni_version[] = "%s";' % version)
    out.append("")
    out.append("/* Tokenizer character class: (first code point << 2) | class, ascending;")
    out.append(" * each class holds until the next entry. Classes: 0 other, 1 letter (L*),")
    out.append(" * 2 number (N*), 3 white space. */")
    emit_array(out, "uint32_t", "uni_class_breaks", [(c << 2) | v for c, v in cls_breaks], 8,
               lambda x: "0x%08x" % x)
    out.append("/* The same classes for U+0000..U+00FF, four per byte (low bits first). */")
    latin1 = [sum(cls[b * 4 + k] << (2 * k) for k in range(4)) for b in range(64)]
    emit_array(out, "uint8_t", "uni_class_latin1", latin1, 16, lambda x: "0x%02x" % x)
    out.append("/* Canonical combining class: (first code point << 8) | ccc, ascending. */")
    emit_array(out, "uint32_t", "uni_ccc_breaks", [(c << 8) | v for c, v in ccc_breaks], 8,
               lambda x: "0x%08x" % x)
    out.append("/* Canonical decompositions (one level; Hangul syllables are algorithmic):")
    out.append(" * (cp << 42) | (first << 21) | second, second = 0 for singletons; sorted by cp. */")
    dec = sorted((cp << 42) | (d[0] << 21) | (d[1] if len(d) > 1 else 0) for cp, d in decomp.items())
    emit_array(out, "uint64_t", "uni_decomp", dec, 4, lambda x: "0x%016xu" % x)
    out.append("/* Primary composites for NFC: (first << 42) | (second << 21) | composite, sorted. */")
    cmp_ = sorted((a << 42) | (b << 21) | c for a, b, c in comp)
    emit_array(out, "uint64_t", "uni_comp", cmp_, 4, lambda x: "0x%016xu" % x)
    out.append("/* Simple lowercase mappings as runs: code points first, first + stride, ...")
    out.append(" * (count of them) map to cp + delta. Sorted by first. */")
    emit_array(out, "uni_lower_run", "uni_lower_runs", runs, 3,
               lambda r: "{0x%05x, %d, %d, %d}" % r)
    out.append("/* Unconditional multi-character lowercase mappings (SpecialCasing.txt):")
    out.append(" * code point, length, mapping. */")
    sp = [(cp, len(m), (m + [0, 0, 0])[:3]) for cp, m in sorted(special_lower.items())]
    emit_array(out, "uni_lower_special_entry", "uni_lower_special", sp, 2,
               lambda e: "{0x%05x, %d, {0x%05x, 0x%05x, 0x%05x}}" % (e[0], e[1], e[2][0], e[2][1], e[2][2]))
    return "\n".join(out).rstrip("\n") + "\n"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ucd", default="/usr/share/unicode", help="UCD folder (default %(default)s)")
    ap.add_argument("--out", default=os.path.join(here, "..", "src", "tokenizer", "unicode_tables.c"))
    args = ap.parse_args()
    text = generate(args.ucd)
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


if __name__ == "__main__":
    main()
