"""hot.ld gathers the variables a traced call reads into a few cache lines.
The linker says nothing when one of its patterns matches no section (a
variable renamed, made static in a function, or given an initialiser that
moves it from .bss to .data): the variable would silently go back among the
6 MiB of tables, and each traced call would touch one more line."""
import os
import re
import subprocess

from conftest import LIB, ROOT


def section_range(name):
    out = subprocess.run(["readelf", "-SW", LIB], capture_output=True, text=True,
                         check=True).stdout
    for ln in out.splitlines():
        f = ln.replace("[ ", "[").split()
        if len(f) > 5 and f[1] == name:
            return int(f[3], 16), int(f[3], 16) + int(f[5], 16)
    raise AssertionError("%s has no section %s" % (LIB, name))


def test_every_variable_named_in_hot_ld_is_in_the_hot_section():
    names = re.findall(r"\*\(\.(?:bss|data(?:\.rel\.local)?)\.([A-Za-z_0-9]+)\)",
                       open(os.path.join(ROOT, "hot.ld")).read())
    assert len(names) > 30
    lo, hi = section_range(".data.at_hot")
    syms = {}
    out = subprocess.run(["nm", LIB], capture_output=True, text=True, check=True).stdout
    for ln in out.splitlines():
        f = ln.split()
        if len(f) == 3:
            syms.setdefault(f[2], []).append(int(f[0], 16))
    missing = [n for n in names if n not in syms]
    assert not missing, "hot.ld names variables the library does not have: %s" % missing
    outside = [n for n in names if not any(lo <= a < hi for a in syms[n])]
    assert not outside, "not in .data.at_hot [%x, %x): %s" % (lo, hi, outside)
    # the first line holds what every traced call reads
    for n in ("at_state", "at_clock_tsc", "at_exporter_started", "ring", "ring_units", "qcap"):
        assert min(syms[n]) < lo + 64, n
    # the configuration's first line is its hot fields: aligned to a line
    assert min(syms["at_cfg"]) % 64 == 0
