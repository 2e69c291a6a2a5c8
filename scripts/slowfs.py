#!/usr/bin/env python3
"""A slow disk for fault tests: a FUSE passthrough filesystem that mirrors BACKING at MOUNTPOINT and
limits writes to RATE bytes per second in all (a token bucket shared by every file), and delays each
fsync/fdatasync by SYNC_MS. Everything else passes straight through, so a program whose data folder
lies under MOUNTPOINT sees an ordinary filesystem on a disk slower than its input.

Usage: slowfs.py BACKING MOUNTPOINT --write-rate 4000000 [--sync-ms 50]
Runs in the foreground until unmounted (fusermount -u MOUNTPOINT, or umount as root).
Needs fusepy (PyPI) and libfuse2 (Debian), and the right to mount (root, or /dev/fuse and fusermount).
"""
import argparse
import errno
import os
import threading
import time

from fuse import FUSE, FuseOSError, Operations


class Throttle:
    """One token bucket for all writes: each write waits until its bytes fit the rate."""

    def __init__(self, rate):
        self.rate = float(rate)
        self.lock = threading.Lock()
        self.next_free = time.monotonic()

    def take(self, count):
        with self.lock:
            now = time.monotonic()
            self.next_free = max(self.next_free, now) + count / self.rate
            wait = self.next_free - now
        if wait > 0:
            time.sleep(wait)


class SlowPassthrough(Operations):
    def __init__(self, root, throttle, sync_seconds):
        self.root = os.path.realpath(root)
        self.throttle = throttle
        self.sync_seconds = sync_seconds

    def _path(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def __call__(self, op, *args):
        # Every OSError becomes the same errno for the caller (fusepy would otherwise report EFAULT).
        try:
            return super().__call__(op, *args)
        except OSError as error:
            raise FuseOSError(error.errno or errno.EIO) from error

    # Metadata
    def access(self, path, mode):
        if not os.access(self._path(path), mode):
            raise FuseOSError(errno.EACCES)

    def getattr(self, path, fh=None):
        st = os.lstat(self._path(path))
        keys = ("st_atime", "st_ctime", "st_gid", "st_mode", "st_mtime", "st_nlink", "st_size", "st_uid", "st_blocks")
        return {key: getattr(st, key) for key in keys}

    def chmod(self, path, mode):
        return os.chmod(self._path(path), mode)

    def chown(self, path, uid, gid):
        return os.chown(self._path(path), uid, gid)

    def utimens(self, path, times=None):
        return os.utime(self._path(path), times)

    def statfs(self, path):
        st = os.statvfs(self._path(path))
        keys = ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files", "f_flag", "f_frsize", "f_namemax")
        return {key: getattr(st, key) for key in keys}

    # Names
    def readdir(self, path, fh):
        return [".", ".."] + os.listdir(self._path(path))

    def mkdir(self, path, mode):
        return os.mkdir(self._path(path), mode)

    def rmdir(self, path):
        return os.rmdir(self._path(path))

    def unlink(self, path):
        return os.unlink(self._path(path))

    def rename(self, old, new):
        return os.rename(self._path(old), self._path(new))

    def link(self, target, name):
        return os.link(self._path(name), self._path(target))

    def symlink(self, name, target):
        return os.symlink(target, self._path(name))

    def readlink(self, path):
        return os.readlink(self._path(path))

    # Files
    def open(self, path, flags):
        return os.open(self._path(path), flags)

    def create(self, path, mode, fi=None):
        return os.open(self._path(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)

    def read(self, path, size, offset, fh):
        return os.pread(fh, size, offset)

    def write(self, path, data, offset, fh):
        self.throttle.take(len(data))
        return os.pwrite(fh, data, offset)

    def truncate(self, path, length, fh=None):
        if fh is not None:
            return os.ftruncate(fh, length)
        with open(self._path(path), "r+") as handle:
            handle.truncate(length)

    def fallocate(self, path, mode, offset, length, fh):
        if mode != 0:
            raise FuseOSError(errno.EOPNOTSUPP)
        return os.posix_fallocate(fh, offset, length)

    def flush(self, path, fh):
        return 0

    def release(self, path, fh):
        return os.close(fh)

    def fsync(self, path, datasync, fh):
        time.sleep(self.sync_seconds)
        return os.fdatasync(fh) if datasync else os.fsync(fh)

    def fsyncdir(self, path, datasync, fh):
        time.sleep(self.sync_seconds)
        return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("backing")
    parser.add_argument("mountpoint")
    parser.add_argument("--write-rate", type=float, required=True, help="bytes per second, all files together")
    parser.add_argument("--sync-ms", type=float, default=50, help="delay of each fsync/fdatasync")
    args = parser.parse_args()
    operations = SlowPassthrough(args.backing, Throttle(args.write_rate), args.sync_ms / 1000)
    FUSE(operations, args.mountpoint, foreground=True, nothreads=False, big_writes=True, max_write=1 << 20)


if __name__ == "__main__":
    main()
