#!/usr/bin/env python3
"""Crash torture of the drive: random file operations on a real coffred and a
real FUSE mount, SIGKILLs of the mount, of coffred or of both at random
moments, and at the end a comparison of every close that returned 0 with
the server's history.

Each cycle runs a few random operations (create, overwrite, append,
truncate, rename, rm, mkdir; files of 0 B to 6 MiB, some written slowly in
64 KiB pieces) on a dozen names in a few folders, then, with some
probability, SIGKILLs the mount, coffred or both: right after a close,
during a slow write (from a timer), or a random delay after the last close
(inside the settle delay, during the upload, during the commit).  A killed
process is started again (the mount after `fusermount3 -u -z`), and after
every remount the drive is compared with the model: names that came back or
went (a rename undone), content older than the last close, content never
closed.  The model is then taken from the drive, so later operations work
on what is there.

At the end every process is brought back, `coffre sync --wait` runs, the
ledger's history (`git log` of main, every manifest ever filed) and the
index's versions are read, and the closes are matched with the versions by
content (SHA-256, as a multiset):

  closed     contents whose close() returned 0
  kept       closes matched by a version in the ledger
  missing    closes no ledger version holds (collapsed into a later close of
             the same name within 3 s, or lost)
  torn       ledger versions holding content no close returned 0 for
  duplicates ledger versions beyond the closes of their content (a rename
             onto a document allows one more; after a rename undone by the
             drive the model may not know the server's document at a target,
             so a save by rename there can count here)
  reverted renames, drive mismatches after remounts, final tree differences

Exit status: 0 when nothing is missing, torn, duplicated or reverted, the
final tree is the model's and `coffred fsck` is clean; 1 otherwise; 2 when
the rig itself could not be set up.  The seed is printed first: the same
seed replays the same operations (timings, hence outcomes, vary).

  tests/torture/torture.py --coffre build/client/coffre \\
      --coffred build/server/coffred --cycles 1000 [--seed N] [--keep]
"""

import argparse
import collections
import errno
import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time

MIB = 1024 * 1024
PIECE = 64 * 1024
OP_DEADLINE = 120  # seconds an operation may block before it is a hang
SETUP_WAIT = 30


def sha(data):
    return hashlib.sha256(data).hexdigest()


class RigError(Exception):
    pass


class Rig:
    """One coffred, one user, one space, one mount, all under work."""

    def __init__(self, work, coffre, coffred, settle_ms):
        self.work = work
        self.coffre = coffre
        self.coffred = coffred
        self.data = os.path.join(work, "server")
        self.cfg = os.path.join(work, "config")
        self.cache = os.path.join(work, "cache")
        self.mnt = os.path.join(work, "mnt")
        self.pw = os.path.join(work, "pw-alice")
        self.server = None
        self.mount = None
        self.slog = open(os.path.join(work, "coffred.log"), "ab")
        self.mlog = open(os.path.join(work, "client.log"), "ab")
        self.env = dict(os.environ)
        if settle_ms is not None:
            self.env["COFFRE_SETTLE_MS"] = str(settle_ms)
        self.url = None

    def run(self, *args, timeout=60, check=True):
        p = subprocess.run(list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout,
                           env=self.env)
        if check and p.returncode != 0:
            raise RigError("%s failed (%d): %s" % (" ".join(args),
                           p.returncode, p.stdout.decode(errors="replace")))
        return p

    def setup(self):
        os.makedirs(self.mnt, exist_ok=True)
        self.run(self.coffred, "init", self.data, "--listen", "127.0.0.1:0")
        with open(self.pw, "w") as f:
            f.write(os.urandom(12).hex())
        self.run(self.coffred, "user", "add", self.data, "alice", "--phone",
                 "+33612345678", "--password-file", self.pw)
        self.run(self.coffred, "space", "create", self.data, "demo",
                 "--owner", "alice", "--plan", "none")
        port = self.server_start()
        # a restarted coffred comes back at the same URL
        conf = os.path.join(self.data, "coffred.conf")
        with open(conf) as f:
            lines = f.read().splitlines()
        with open(conf, "w") as f:
            for line in lines:
                if line.replace(" ", "").startswith("listen="):
                    line = "listen = 127.0.0.1:%d" % port
                f.write(line + "\n")
        self.url = "https://127.0.0.1:%d" % port
        self.run(self.coffre, "--config", self.cfg, "login", self.url,
                 "alice", "--password-file", self.pw, "--cacert",
                 os.path.join(self.data, "tls", "cert.pem"))
        self.mount_start()
        self.ledger = self.run(self.coffred, "space", "path", self.data,
                               "demo").stdout.decode().strip()

    def server_start(self):
        pf = os.path.join(self.work, "port")
        if os.path.exists(pf):
            os.unlink(pf)
        self.server = subprocess.Popen(
            [self.coffred, "serve", self.data, "--port-file", pf],
            stdout=self.slog, stderr=subprocess.STDOUT, env=self.env)
        end = time.monotonic() + SETUP_WAIT
        while time.monotonic() < end:
            if self.server.poll() is not None:
                raise RigError("coffred serve exited with %d"
                               % self.server.returncode)
            try:
                with open(pf) as f:
                    txt = "".join(c for c in f.read() if c.isdigit())
                if txt:
                    return int(txt)
            except FileNotFoundError:
                pass
            time.sleep(0.05)
        raise RigError("coffred serve wrote no port within %d s" % SETUP_WAIT)

    def mount_start(self):
        self.mount = subprocess.Popen(
            [self.coffre, "--config", self.cfg, "mount", "demo", self.mnt,
             "--cache", self.cache, "--foreground"],
            stdout=self.mlog, stderr=subprocess.STDOUT, env=self.env)
        end = time.monotonic() + SETUP_WAIT
        while time.monotonic() < end:
            if self.mount.poll() is not None:
                raise RigError("coffre mount exited with %d"
                               % self.mount.returncode)
            if os.path.ismount(self.mnt):
                return
            time.sleep(0.05)
        raise RigError("coffre mount not mounted within %d s" % SETUP_WAIT)

    @staticmethod
    def _kill(p):
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGKILL)
        if p is not None:
            p.wait()

    def mount_kill(self):
        self._kill(self.mount)
        self.mount = None
        subprocess.run(["fusermount3", "-u", "-z", self.mnt],
                       stderr=subprocess.DEVNULL)

    def server_kill(self):
        self._kill(self.server)
        self.server = None

    def sync(self, timeout):
        return self.run(self.coffre, "--config", self.cfg, "sync", "--wait",
                        self.mnt, "--timeout", str(timeout),
                        timeout=timeout + 30, check=False)

    def umount(self):
        """fusermount3 -u, then the exit status of the mount."""
        if self.mount is None:
            return None
        for _ in range(30):
            if subprocess.run(["fusermount3", "-u", self.mnt],
                              stderr=subprocess.DEVNULL).returncode == 0:
                break
            time.sleep(1)
        else:
            subprocess.run(["fusermount3", "-u", "-z", self.mnt])
        try:
            rc = self.mount.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._kill(self.mount)
            rc = "killed after 60 s"
        self.mount = None
        return rc

    def server_stop(self):
        if self.server is None:
            return None
        self.server.send_signal(signal.SIGTERM)
        try:
            rc = self.server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._kill(self.server)
            rc = "killed after 30 s"
        self.server = None
        return rc

    def teardown(self):
        """Whatever state we are in: nothing of ours left running."""
        if self.mount is not None and self.mount.poll() is None:
            subprocess.run(["fusermount3", "-u", "-z", self.mnt],
                           stderr=subprocess.DEVNULL)
            try:
                self.mount.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._kill(self.mount)
        elif os.path.ismount(self.mnt):
            subprocess.run(["fusermount3", "-u", "-z", self.mnt],
                           stderr=subprocess.DEVNULL)
        if self.server is not None and self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._kill(self.server)


class Torture:
    def __init__(self, rig, args):
        self.rig = rig
        self.args = args
        self.rng = random.Random(args.seed)
        self.names = ["f%02d.bin" % i for i in range(args.files)]
        self.dirs = [""]
        self.files = {}  # rel path -> content expected on the drive
        self.closes = []  # (seq, time, path, sha, size)
        self.close_sha = set()
        self.renames = []  # since the last drive check: (src, dst)
        self.stats = collections.Counter()
        self.details = collections.defaultdict(list)
        self.seq = 0
        self.timer = None
        self.killed = False
        # extra versions a content may have: a rename onto a document makes
        # it a version of that document too (a save by rename)
        self.allowance = collections.Counter()
        self.op_started = None
        self.stop = threading.Event()
        self.dog = threading.Thread(target=self.watchdog, daemon=True)
        self.dog.start()

    # --- helpers ---------------------------------------------------------

    def note(self, kind, text):
        self.stats[kind] += 1
        self.details[kind].append(text)
        if self.args.verbose:
            print("# %s: %s" % (kind, text), flush=True)

    def watchdog(self):
        """An operation blocked too long is a hang: kill the mount to
        unblock it (its syscalls then fail with ENOTCONN)."""
        while not self.stop.wait(1):
            t = self.op_started
            if t is not None and time.monotonic() - t > OP_DEADLINE:
                self.note("hangs", "an operation blocked over %d s "
                          "(cycle %d)" % (OP_DEADLINE, self.cycle))
                self.op_started = None
                m = self.rig.mount
                if m is not None and m.poll() is None:
                    m.send_signal(signal.SIGKILL)

    def abs(self, rel):
        return os.path.join(self.rig.mnt, rel)

    def size(self):
        r = self.rng.random()
        if r < 0.05:
            return 0
        if r < 0.45:
            return self.rng.randint(1, 4096)
        if r < 0.75:
            return self.rng.randint(4097, 256 * 1024)
        if r < 0.92:
            return self.rng.randint(256 * 1024, 2 * MIB)
        return self.rng.randint(2 * MIB, 6 * MIB)

    def closed(self, path, data):
        self.seq += 1
        h = sha(data)
        self.closes.append((self.seq, time.monotonic(), path, h, len(data)))
        self.close_sha.add(h)
        self.files[path] = data
        self.stats["closed"] += 1

    def pick_path(self):
        d = self.rng.choice(self.dirs)
        return os.path.join(d, self.rng.choice(self.names))

    # --- operations ------------------------------------------------------

    def write(self, path, data, flags, slow, kill_during):
        """Write data with flags, in pieces; True when close returned 0."""
        fd = os.open(self.abs(path), flags, 0o644)
        try:
            step = PIECE if slow else MIB
            pause = 0
            if slow and data:
                pause = self.rng.uniform(0.2, 1.5) / max(1, len(data) // PIECE)
            if kill_during:
                whole = pause * max(1, len(data) // PIECE)
                self.timer = threading.Timer(
                    self.rng.uniform(0, max(0.05, whole)), kill_during)
                self.timer.start()
            off = 0
            while off < len(data):
                n = os.write(fd, data[off:off + step])
                off += n
                if pause:
                    time.sleep(pause)
        except OSError:
            try:
                os.close(fd)
            except OSError:
                pass
            raise
        os.close(fd)
        return True

    def op_write(self, kill_during):
        path = self.pick_path()
        old = self.files.get(path)
        kind = self.rng.choice(["create", "overwrite", "append", "truncate"])
        if old is None:
            kind = "create"
        slow = self.rng.random() < 0.25 or kill_during is not None
        if kind == "truncate":
            # a close that changes nothing is no deposit: always change
            n = self.rng.randint(0, len(old) + 4096)
            if n == len(old):
                n += 1
            fd = os.open(self.abs(path), os.O_WRONLY)
            try:
                os.ftruncate(fd, n)
            finally:
                os.close(fd)
            new = old[:n] + bytes(max(0, n - len(old)))
            self.closed(path, new)
            return "truncate %s to %d" % (path, n)
        n = self.size()
        # an empty file cut and closed unwritten is unchanged: no deposit
        if kind == "append" or (kind != "create" and not old) or old == b"":
            n = max(n, 1)
        data = self.rng.randbytes(n)
        if kind == "append":
            self.write(path, data, os.O_WRONLY | os.O_APPEND, slow,
                       kill_during)
            self.closed(path, old + data)
        else:
            self.write(path, data, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                       slow, kill_during)
            self.closed(path, data)
        return "%s %s %d bytes%s" % (kind, path, len(data),
                                     " slowly" if slow else "")

    def op_rename(self):
        if not self.files:
            return None
        src = self.rng.choice(sorted(self.files))
        dst = self.pick_path()
        if dst == src:
            return None
        os.rename(self.abs(src), self.abs(dst))
        if dst in self.files:
            self.allowance[sha(self.files[src])] += 1
        self.files[dst] = self.files.pop(src)
        self.renames.append((src, dst))
        self.stats["renames"] += 1
        return "rename %s %s" % (src, dst)

    def op_rm(self):
        if not self.files:
            return None
        path = self.rng.choice(sorted(self.files))
        os.unlink(self.abs(path))
        del self.files[path]
        self.renames = [(s, d) for s, d in self.renames if d != path]
        return "rm %s" % path

    def op_mkdir(self):
        if len(self.dirs) > 3:
            return None
        d = "d%d" % len(self.dirs)
        os.mkdir(self.abs(d))
        self.dirs.append(d)
        return "mkdir %s" % d

    def one_op(self, kill_during=None):
        r = self.rng.random()
        self.op_started = time.monotonic()
        try:
            if kill_during is not None or r < 0.62:
                return self.op_write(kill_during)
            if r < 0.80:
                return self.op_rename()
            if r < 0.93:
                return self.op_rm()
            return self.op_mkdir()
        finally:
            self.op_started = None

    # --- kills and recovery -----------------------------------------------

    def kill(self, target):
        if self.killed:
            return
        self.killed = True
        self.stats["kills"] += 1
        self.stats["kills of " + target] += 1
        procs = []
        if target in ("mount", "both"):
            procs.append(self.rig.mount)
        if target in ("coffred", "both"):
            procs.append(self.rig.server)
        for p in procs:
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGKILL)
        # dead, not dying, when recover() looks
        for p in procs:
            if p is not None:
                p.wait()

    def recover(self):
        """Start again whatever is down; check the drive after a remount."""
        rig = self.rig
        if rig.server is None or rig.server.poll() is not None:
            if rig.server is not None and \
                    rig.server.returncode != -signal.SIGKILL:
                self.note("coffred exits", "status %s in cycle %d" %
                          (rig.server.returncode, self.cycle))
            rig.server_kill()
            rig.server_start()
        if rig.mount is None or rig.mount.poll() is not None:
            if rig.mount is not None and \
                    rig.mount.returncode != -signal.SIGKILL:
                self.note("mount exits", "status %s in cycle %d" %
                          (rig.mount.returncode, self.cycle))
            rig.mount_kill()
            rig.mount_start()
            self.check_drive("after the remount of cycle %d" % self.cycle)

    def read_drive(self):
        found = {}
        for root, dirs, names in os.walk(self.rig.mnt):
            rel = os.path.relpath(root, self.rig.mnt)
            rel = "" if rel == "." else rel
            for n in names:
                p = os.path.join(rel, n)
                try:
                    with open(self.abs(p), "rb") as f:
                        found[p] = f.read()
                except OSError as e:
                    found[p] = e
        return found

    def check_drive(self, when):
        """Compare the drive with the model, then adopt what it shows."""
        self.op_started = time.monotonic()
        try:
            found = self.read_drive()
        finally:
            self.op_started = None
        reverted = set()
        for src, dst in self.renames:
            if (src in found and src not in self.files) or \
                    (dst in self.files and dst not in found):
                reverted.add((src, dst))
                self.note("reverted renames", "%s -> %s %s" % (src, dst,
                                                               when))
        involved = {p for r in reverted for p in r}
        for p in sorted(set(self.files) | set(found)):
            want, got = self.files.get(p), found.get(p)
            if isinstance(got, OSError):
                self.note("unreadable on the drive", "%s (%s) %s" %
                          (p, got.strerror, when))
                continue
            if p in involved:
                continue
            if got is None:
                self.note("lost names", "%s %s" % (p, when))
            elif want is None:
                self.note("unexpected names", "%s %s" % (p, when))
            elif got != want:
                kind = "stale content" if sha(got) in self.close_sha \
                    else "content never closed"
                self.note(kind, "%s (%d bytes, want %d) %s" %
                          (p, len(got), len(want), when))
        self.files = {p: d for p, d in found.items()
                      if not isinstance(d, OSError)}
        for p, d in found.items():
            if isinstance(d, OSError):
                try:
                    os.unlink(self.abs(p))
                except OSError:
                    pass
        self.dirs = [""] + sorted(
            {os.path.dirname(p) for p in self.files if os.path.dirname(p)}
            | {d for d in self.dirs if d and os.path.isdir(self.abs(d))})
        self.renames = []

    # --- the run -----------------------------------------------------------

    def cycle_once(self):
        kill_p = self.args.kill_rate
        will_kill = self.rng.random() < kill_p
        target = self.rng.choice(["mount", "mount", "coffred", "both"])
        moment = self.rng.choice(["after a close", "during a write",
                                  "later"])
        nops = self.rng.randint(1, 4)
        self.killed = False
        for i in range(nops):
            during = None
            if will_kill and moment == "during a write" and i == nops - 1:
                def during():
                    self.kill(target)
            try:
                what = self.one_op(during)
                if what and self.args.verbose:
                    print("# cycle %d: %s" % (self.cycle, what), flush=True)
            except OSError as e:
                self.stats["failed ops"] += 1
                if self.args.verbose:
                    print("# cycle %d: op failed: %s" % (self.cycle, e),
                          flush=True)
                if e.errno in (errno.ENOTCONN, errno.ECONNABORTED):
                    break
            finally:
                if self.timer is not None:
                    # the write may end before its timer: then kill now
                    self.timer.cancel()
                    self.timer.join()
                    self.timer = None
            if self.rig.mount is not None and \
                    self.rig.mount.poll() is not None:
                break
        if will_kill and moment == "later":
            time.sleep(self.rng.uniform(0, 2.5))
        if will_kill:
            if self.args.verbose:
                print("# cycle %d: kill %s %s" % (self.cycle, target, moment),
                      flush=True)
            self.kill(target)
        self.recover()

    def run(self):
        t0 = time.monotonic()
        for self.cycle in range(1, self.args.cycles + 1):
            self.cycle_once()
            if self.cycle % 50 == 0:
                print("# %d cycles, %d closes, %d kills, %.0f s" %
                      (self.cycle, self.stats["closed"], self.stats["kills"],
                       time.monotonic() - t0), flush=True)
        self.cycle = "end"
        self.recover()
        p = self.rig.sync(self.args.sync_timeout)
        self.sync_ok = p.returncode == 0
        if not self.sync_ok:
            self.note("final sync failures",
                      p.stdout.decode(errors="replace").strip())
        self.check_drive("at the end")
        self.stop.set()
        self.elapsed = time.monotonic() - t0


def ledger_versions(git_dir):
    """Every manifest ever filed on main: {(doc, version): sha}, and the
    final tree {path: sha}."""
    log = subprocess.run(
        ["git", "--git-dir", git_dir, "log", "--reverse", "--raw",
         "--no-abbrev", "--no-renames", "--format=commit %H", "main"],
        check=True, capture_output=True).stdout.decode()
    blobs = []
    for line in log.splitlines():
        if not line.startswith(":"):
            continue
        meta, path = line.split("\t", 1)
        f = meta.split()
        if f[4][0] in "AMT" and not path.endswith(".coffre-folder") and \
                path != ".coffre-access":
            blobs.append(f[3])
    tree = subprocess.run(
        ["git", "--git-dir", git_dir, "ls-tree", "-r", "main"],
        check=True, capture_output=True).stdout.decode()
    head = {}
    for line in tree.splitlines():
        meta, path = line.split("\t", 1)
        if not path.endswith(".coffre-folder") and path != ".coffre-access":
            head[path] = meta.split()[2]
    want = sorted(set(blobs) | set(head.values()))
    out = subprocess.run(["git", "--git-dir", git_dir, "cat-file", "--batch"],
                         input="\n".join(want).encode() + b"\n",
                         check=True, capture_output=True).stdout
    manifests, pos = {}, 0
    for b in want:
        nl = out.index(b"\n", pos)
        size = int(out[pos:nl].split()[2])
        body = out[nl + 1:nl + 1 + size].decode()
        pos = nl + 1 + size + 1
        fields = dict(line.split(" ", 1) for line in body.splitlines()
                      if " " in line)
        manifests[b] = (fields.get("doc"), int(fields.get("version", 0)),
                        fields.get("sha256"))
    versions = {}
    conflicting = 0
    for m in manifests.values():
        key = (m[0], m[1])
        if key in versions and versions[key] != m[2]:
            conflicting += 1
        versions[key] = m[2]
    return versions, {p: manifests[b][2] for p, b in head.items()}, conflicting


def index_versions(data):
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(data, "index.db"),
                         uri=True)
    try:
        return {(d, v): s for d, v, s in db.execute(
            "SELECT doc_id, version, sha256 FROM versions WHERE space = ?",
            ("demo",))}
    finally:
        db.close()


def report(t, rig, args):
    """Match closes with the history; print the figures; the exit status."""
    st = t.stats
    umount_rc = rig.umount()
    stop_rc = rig.server_stop()
    versions, head, conflicting = ledger_versions(rig.ledger)
    indexed = index_versions(rig.data)
    fsck = subprocess.run([rig.coffred, "fsck", rig.data],
                          capture_output=True)

    in_ledger = collections.Counter(versions.values())
    in_index = collections.Counter(indexed.values())
    by_sha = collections.defaultdict(list)
    for c in t.closes:
        by_sha[c[3]].append(c)
    kept = missing = collapsed = index_only = dup = 0
    missing_list = []
    for h, cs in by_sha.items():
        k = min(len(cs), in_ledger[h])
        kept += k
        extra = in_ledger[h] - len(cs) - t.allowance[h]
        if extra > 0:
            dup += extra
            t.details["duplicates"].append(
                "%s (%d bytes, last at %s): %d versions for %d closes" %
                (h[:12], cs[-1][4], cs[-1][2], in_ledger[h], len(cs)))
        # the earliest closes of a content are the ones counted missing
        for c in cs[:len(cs) - k]:
            missing += 1
            missing_list.append(c)
            if in_index[h] > in_ledger[h]:
                index_only += 1
    nxt = {}
    missing_seq = {c[0] for c in missing_list}
    for c in sorted(t.closes, reverse=True):
        c_next = nxt.get(c[2])
        nxt[c[2]] = c
        if c[0] in missing_seq and c_next and c_next[1] - c[1] < 3:
            collapsed += 1
    for c in missing_list:
        t.details["missing"].append("close #%d of %s, %d bytes, %s" %
                                    (c[0], c[2], c[4], c[3][:12]))
    torn = [(k, h) for k, h in versions.items() if h not in t.close_sha]
    for (doc, v), h in torn:
        t.details["torn"].append("%s v%d holds %s" % (doc, v, h[:12]))
    only_index = [k for k in indexed if k not in versions]
    final = {p: sha(d) for p, d in t.files.items()}
    tree_diff = sorted(p for p in set(final) | set(head)
                       if final.get(p) != head.get(p))
    for p in tree_diff:
        t.details["final tree"].append(
            "%s: drive %s, ledger head %s" % (p, (final.get(p) or "-")[:12],
                                               (head.get(p) or "-")[:12]))

    print("torture: seed %d, %d cycles in %.0f s, %d kills (mount %d, "
          "coffred %d, both %d), %d renames, %d failed operations" %
          (args.seed, args.cycles, t.elapsed, st["kills"],
           st["kills of mount"], st["kills of coffred"], st["kills of both"],
           st["renames"], st["failed ops"]))
    print("closed contents: %d" % st["closed"])
    print("kept (a version in the ledger): %d" % kept)
    print("missing: %d (collapsed into a later close of the name within 3 s:"
          " %d; in the index only: %d)" % (missing, collapsed, index_only))
    print("torn (versions holding content never closed): %d" % len(torn))
    print("duplicates (versions beyond the closes of their content): %d"
          % dup)
    print("versions in the index only: %d; one version with two contents: "
          "%d" % (len(only_index), conflicting))
    print("reverted renames (seen after a remount): %d" %
          st["reverted renames"])
    print("drive after remounts: lost names %d, unexpected names %d, stale "
          "content %d, content never closed %d, unreadable %d" %
          (st["lost names"], st["unexpected names"], st["stale content"],
           st["content never closed"], st["unreadable on the drive"]))
    print("final tree differs from the drive in %d paths; final sync %s" %
          (len(tree_diff), "ok" if t.sync_ok else "FAILED"))
    print("hangs: %d; unexpected exits: mount %d, coffred %d; clean stop: "
          "mount %s, coffred %s" % (st["hangs"], st["mount exits"],
                                    st["coffred exits"], umount_rc, stop_rc))
    fsck_out = (fsck.stdout + fsck.stderr).decode(errors="replace").strip()
    print("fsck: %s" % ("clean" if fsck.returncode == 0 else "FAILED"))
    if fsck.returncode != 0:
        for line in fsck_out.splitlines()[:20]:
            print("  " + line)
    failed = []
    for name, bad in (("missing", missing), ("torn", len(torn)),
                      ("duplicates", dup),
                      ("reverted renames", st["reverted renames"]),
                      ("final tree", len(tree_diff)),
                      ("final sync", not t.sync_ok),
                      ("hangs", st["hangs"]),
                      ("fsck", fsck.returncode != 0)):
        if bad:
            failed.append(name)
    if failed:
        n = args.details
        for kind in sorted(t.details):
            for line in t.details[kind][:n]:
                print("  %s: %s" % (kind, line))
            if len(t.details[kind]) > n:
                print("  %s: ... %d more" % (kind, len(t.details[kind]) - n))
    print("result: %s" % ("FAIL (%s)" % ", ".join(failed) if failed
                          else "PASS"))
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cycles", type=int, default=50)
    ap.add_argument("--seed", type=int,
                    default=int.from_bytes(os.urandom(4), "big"))
    ap.add_argument("--files", type=int, default=12,
                    help="names per folder (default 12)")
    ap.add_argument("--kill-rate", type=float, default=0.4,
                    help="share of cycles ending in a kill (default 0.4)")
    ap.add_argument("--settle-ms", type=int, default=None,
                    help="COFFRE_SETTLE_MS of the mount (default: its own)")
    ap.add_argument("--sync-timeout", type=int, default=300)
    ap.add_argument("--coffre", default=os.environ.get("COFFRE"))
    ap.add_argument("--coffred", default=os.environ.get("COFFRED"))
    ap.add_argument("--workdir", default=None,
                    help="where to run (default: a new temporary directory)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work directory")
    ap.add_argument("--details", type=int, default=10,
                    help="lines of detail per kind of failure (default 10)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    if not args.coffre or not args.coffred:
        ap.error("--coffre and --coffred (or COFFRE and COFFRED) are needed")
    args.coffre = os.path.abspath(args.coffre)
    args.coffred = os.path.abspath(args.coffred)
    print("torture: seed %d (rerun with --seed %d), %d cycles" %
          (args.seed, args.seed, args.cycles), flush=True)

    import shutil
    import tempfile
    work = args.workdir or tempfile.mkdtemp(prefix="coffre-torture.")
    os.makedirs(work, exist_ok=True)
    rig = Rig(work, args.coffre, args.coffred, args.settle_ms)

    def on_signal(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    rc = 2
    try:
        rig.setup()
        t = Torture(rig, args)
        t.run()
        rc = report(t, rig, args)
    except (RigError, subprocess.SubprocessError) as e:
        print("torture: the rig failed: %s" % e, flush=True)
    except KeyboardInterrupt:
        print("torture: interrupted", flush=True)
    finally:
        rig.teardown()
        if args.keep or rc != 0:
            print("torture: work directory kept: %s" % work)
        elif not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
