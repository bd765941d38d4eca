#!/usr/bin/env python3
"""The client's layering, checked on the built objects (TAP).

Every defined and undefined symbol of each object file (nm) gives who
calls whom.  The rules (docs/architecture.md, "client/: coffre"):
  - store/ calls neither drive/ nor cmd/;
  - cmd/ never calls drive/, and drive/ never calls cmd/;
  - inside drive/, no circle of files: the calls between its modules
    form a graph without a cycle, printed as layers when it holds.
Usage: check_layers.py OBJDIR [STORE_OBJDIR]
"""
import collections
import glob
import os
import subprocess
import sys


def symbols(obj):
    out = subprocess.run(['nm', obj], capture_output=True, text=True,
                         check=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        f = line.split()
        if len(f) == 3 and f[1] in 'TDBRC':
            defined.add(f[2])
        elif len(f) == 2 and f[0] == 'U':
            undefined.add(f[1])
    return defined, undefined


def modules(objdir, prefix):
    """{module: (defined, undefined)} for objects named PREFIX_NAME.c.o"""
    mods = {}
    for o in sorted(glob.glob(os.path.join(objdir, prefix + '_*.c.o'))):
        name = os.path.basename(o)[len(prefix) + 1:-len('.c.o')]
        mods[name] = symbols(o)
    return mods


def calls(callers, callees):
    """[(caller, callee, symbol)] where a caller uses a callee's symbol"""
    owner = {s: m for m, (d, _) in callees.items() for s in d}
    return sorted((m, owner[s], s) for m, (_, u) in callers.items()
                  for s in u if s in owner and owner[s] != m)


def cycle(graph):
    """One cycle as a list of nodes, or None (depth-first search)."""
    state, stack = {}, []

    def visit(v):
        state[v] = 1
        stack.append(v)
        for w in sorted(graph[v]):
            if state.get(w) == 1:
                return stack[stack.index(w):] + [w]
            if w not in state:
                found = visit(w)
                if found:
                    return found
        stack.pop()
        state[v] = 2
        return None

    for v in sorted(graph):
        if v not in state:
            found = visit(v)
            if found:
                return found
    return None


def main():
    objdir = sys.argv[1]
    storedir = sys.argv[2] if len(sys.argv) > 2 else objdir
    drive = modules(objdir, 'drive')
    cmd = modules(objdir, 'cmd')
    store = modules(storedir, 'store')
    n = 0
    bad = 0

    def ok(cond, what, detail=()):
        nonlocal n, bad
        n += 1
        print(('ok' if cond else 'not ok') + ' %d - %s' % (n, what))
        for d in detail:
            print('# ' + d)
        bad += not cond

    ok(len(drive) >= 10 and len(cmd) >= 5 and len(store) >= 5,
       'objects found (drive %d, cmd %d, store %d)' %
       (len(drive), len(cmd), len(store)))
    up = {**{'drive_' + k: v for k, v in drive.items()},
          **{'cmd_' + k: v for k, v in cmd.items()}}
    e = calls({'store_' + k: v for k, v in store.items()}, up)
    ok(not e, 'store/ calls neither drive/ nor cmd/',
       ['%s -> %s: %s' % x for x in e[:20]])
    e = calls(cmd, drive)
    ok(not e, 'cmd/ never calls drive/', ['%s -> %s: %s' % x for x in e[:20]])
    e = calls(drive, cmd)
    ok(not e, 'drive/ never calls cmd/', ['%s -> %s: %s' % x for x in e[:20]])
    graph = collections.defaultdict(set)
    for m in drive:
        graph[m]
    for a, b, _ in calls(drive, drive):
        graph[a].add(b)
    c = cycle(graph)
    detail = []
    if c:
        detail = [' -> '.join(c)]
    else:
        level = {}

        def lv(v):
            if v not in level:
                level[v] = 1 + max((lv(w) for w in graph[v]), default=-1)
            return level[v]

        layers = collections.defaultdict(list)
        for m in graph:
            layers[lv(m)].append(m)
        detail = ['layer %d: %s' % (k, ' '.join(sorted(layers[k])))
                  for k in sorted(layers)]
    ok(c is None, 'no circle of files inside drive/', detail)
    print('1..%d' % n)
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
