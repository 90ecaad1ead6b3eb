"""SFTP (draft-ietf-secsh-filexfer-02, version 3) proxied to the upstream host, every operation
recorded; or refused, on a connection without ``allow_sftp = true``.

asyncssh's ``SFTPServer`` works on the local file system by default: the gateway's own. So the
proxy overrides every one of its operations (``PROXIED`` and ``REFUSED`` name them all; a test
checks that none is left to the default) and does each on an SFTP session of the upstream
login. Each operation is journaled before it is done and recorded in the session's statement
log as ``sftp <op> <path>`` (opening a file names its flags; closing it records the bytes read
and written through it): ``airlock sessions replay ID --statements`` lists them. Reads and
writes of an open file are counted, not recorded one by one.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import asyncssh
from asyncssh import SFTPAttrs, SFTPName, SFTPVFSAttrs

from gateway.ssh.context import SshSession

__all__ = ["PROXIED", "REFUSED", "SftpProxy", "SftpRefused"]

T = TypeVar("T")
_NO_HOLE = 1 << 62
SessionFor = Callable[[], Awaitable[SshSession | None]]
RULE = "ssh/sftp"
PROXIED = frozenset(
    [
        "open",
        "close",
        "read",
        "write",
        "lstat",
        "fstat",
        "setstat",
        "fsetstat",
        "scandir",
        "remove",
        "mkdir",
        "rmdir",
        "realpath",
        "stat",
        "rename",
        "readlink",
        "symlink",
        "posix_rename",
        "statvfs",
        "fstatvfs",
        "fsync",
        "exit",
        "map_path",
        "reverse_map_path",
    ]
)
# Left to the upstream's rules by refusing them here: SFTPv4+ opens, hard links, byte locks,
# lsetstat. Formatting helpers (convert_attrs, format_*) touch no file.
REFUSED = frozenset(["open56", "link", "lock", "unlock", "lsetstat"])
HARMLESS = frozenset(["convert_attrs", "format_user", "format_group", "format_longname"])


class _File:
    """A file open upstream, and what went through it."""

    def __init__(self, remote: asyncssh.SFTPClientFile, path: str) -> None:
        self.remote, self.path = remote, path
        self.read = self.written = 0

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """asyncssh's ``ranges@asyncssh.com`` extension asks a file for its data and holes
        (SEEK_DATA / SEEK_HOLE) directly: an upstream file is all data, no holes."""
        return _NO_HOLE if whence == getattr(os, "SEEK_HOLE", -1) else offset


class SftpRefused(asyncssh.SFTPServer):
    """Every operation refused: SFTP is off on this connection (``allow_sftp``)."""

    def map_path(self, path: bytes) -> bytes:
        return path

    def reverse_map_path(self, path: bytes) -> bytes:
        return path

    def exit(self) -> None:
        return None


def _refused(*args: object) -> Any:
    raise asyncssh.SFTPPermissionDenied("sftp is off on this connection (allow_sftp)")


for _op_name in (PROXIED | REFUSED) - {"exit", "map_path", "reverse_map_path"}:
    setattr(SftpRefused, _op_name, _refused)


class SftpProxy(asyncssh.SFTPServer):
    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], session_for: SessionFor) -> None:
        super().__init__(chan)
        self._session_for = session_for
        self._client: asyncssh.SFTPClient | None = None

    async def _up(self) -> tuple[SshSession, asyncssh.SFTPClient]:
        session = await self._session_for()
        if session is None or session.upstream is None:
            raise asyncssh.SFTPFailure("the session could not start")
        if self._client is None:
            self._client = await session.upstream.start_sftp_client(path_encoding=None)
        return session, self._client

    async def _op(self, text: str, call: Callable[[asyncssh.SFTPClient], Awaitable[T]]) -> T:
        """Journal, do upstream, record."""
        session, client = await self._up()
        log = session.log
        assert log is not None
        session.statements_seen += 1
        if not log.forwarding(text):
            raise asyncssh.SFTPFailure("the statement journal cannot record this operation")
        try:
            result = await call(client)
        except asyncssh.SFTPError as exc:
            log.add(text, "error", "allow", rule=RULE, error=str(exc.reason))
            raise
        log.add(text, "ok", "allow", rule=RULE)
        return result

    def map_path(self, path: bytes) -> bytes:
        return path  # never a local path: every operation is done upstream

    def reverse_map_path(self, path: bytes) -> bytes:
        return path

    async def open(self, path: bytes, pflags: int, attrs: SFTPAttrs) -> object:
        name = _name(path)

        async def call(client: asyncssh.SFTPClient) -> _File:
            remote = await client.open(path, pflags, attrs, encoding=None)
            return _File(remote, name)

        return await self._op(f"sftp open {name} flags=0x{pflags:x}", call)

    async def close(self, file_obj: object) -> None:
        file = _file(file_obj)
        await file.remote.close()
        session, _ = await self._up()
        if session.log is not None:
            text = f"sftp close {file.path} read={file.read} written={file.written}"
            session.log.add(text, "ok", "allow", rule=RULE, size=file.read + file.written)

    async def read(self, file_obj: object, offset: int, size: int) -> bytes:
        file = _file(file_obj)
        data = await file.remote.read(size, offset)
        file.read += len(data)
        return data if isinstance(data, bytes) else data.encode()

    async def write(self, file_obj: object, offset: int, data: bytes) -> int:
        file = _file(file_obj)
        written = await file.remote.write(data, offset)
        file.written += len(data)
        return written

    async def fstat(self, file_obj: object) -> SFTPAttrs:
        return await _file(file_obj).remote.stat()

    async def fsetstat(self, file_obj: object, attrs: SFTPAttrs) -> None:
        file = _file(file_obj)
        await self._op(f"sftp fsetstat {file.path}", lambda _: file.remote.setstat(attrs))

    async def fstatvfs(self, file_obj: object) -> SFTPVFSAttrs:
        return await _file(file_obj).remote.statvfs()

    async def fsync(self, file_obj: object) -> None:
        await _file(file_obj).remote.fsync()

    async def stat(self, path: bytes) -> SFTPAttrs:
        return await self._op(f"sftp stat {_name(path)}", lambda c: c.stat(path))

    async def lstat(self, path: bytes) -> SFTPAttrs:
        return await self._op(f"sftp lstat {_name(path)}", lambda c: c.lstat(path))

    async def setstat(self, path: bytes, attrs: SFTPAttrs) -> None:
        await self._op(f"sftp setstat {_name(path)}", lambda c: c.setstat(path, attrs))

    async def scandir(self, path: bytes) -> AsyncIterator[SFTPName]:
        names = await self._op(f"sftp list {_name(path)}", lambda c: c.readdir(path))
        for name in names:
            yield name

    async def remove(self, path: bytes) -> None:
        await self._op(f"sftp remove {_name(path)}", lambda c: c.remove(path))

    async def mkdir(self, path: bytes, attrs: SFTPAttrs) -> None:
        await self._op(f"sftp mkdir {_name(path)}", lambda c: c.mkdir(path, attrs))

    async def rmdir(self, path: bytes) -> None:
        await self._op(f"sftp rmdir {_name(path)}", lambda c: c.rmdir(path))

    async def realpath(self, path: bytes) -> bytes:
        found = await self._op(f"sftp realpath {_name(path)}", lambda c: c.realpath(path))
        return found if isinstance(found, bytes) else str(found).encode()

    async def readlink(self, path: bytes) -> bytes:
        found = await self._op(f"sftp readlink {_name(path)}", lambda c: c.readlink(path))
        return found if isinstance(found, bytes) else str(found).encode()

    async def rename(self, oldpath: bytes, newpath: bytes) -> None:
        text = f"sftp rename {_name(oldpath)} {_name(newpath)}"
        await self._op(text, lambda c: c.rename(oldpath, newpath))

    async def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        text = f"sftp posix_rename {_name(oldpath)} {_name(newpath)}"
        await self._op(text, lambda c: c.posix_rename(oldpath, newpath))

    async def symlink(self, oldpath: bytes, newpath: bytes) -> None:
        text = f"sftp symlink {_name(oldpath)} {_name(newpath)}"
        await self._op(text, lambda c: c.symlink(oldpath, newpath))

    async def statvfs(self, path: bytes) -> SFTPVFSAttrs:
        return await self._op(f"sftp statvfs {_name(path)}", lambda c: c.statvfs(path))

    def exit(self) -> None:
        if self._client is not None:
            self._client.exit()

    def open56(self, *args: object) -> object:
        raise asyncssh.SFTPOpUnsupported("not served through Airlock")

    def link(self, oldpath: bytes, newpath: bytes) -> None:
        raise asyncssh.SFTPOpUnsupported("hard links are not served through Airlock")

    def lock(self, *args: object) -> None:
        raise asyncssh.SFTPOpUnsupported("byte-range locks are not served through Airlock")

    def unlock(self, *args: object) -> None:
        raise asyncssh.SFTPOpUnsupported("byte-range locks are not served through Airlock")

    def lsetstat(self, path: bytes, attrs: SFTPAttrs) -> None:
        raise asyncssh.SFTPOpUnsupported("lsetstat is not served through Airlock")


def _file(file_obj: object) -> _File:
    assert isinstance(file_obj, _File)
    return file_obj


def _name(path: bytes) -> str:
    return path.decode("utf-8", "surrogateescape")
