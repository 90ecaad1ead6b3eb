"""The ``default`` rule set for shell commands: what each program does, as guardrail kinds.

A command is its program name and its words (``None`` for a word the gateway cannot know
before the shell runs: ``$VAR``, ``$(...)``, a glob). ``judge_program`` returns its findings:

- reads and diagnostics (``ls``, ``cat``, ``grep``, ``ps``, ``df``, ``systemctl status``, ...)
  are ``read``: allowed;
- file writes that destroy nothing (``mkdir``, ``touch``, ``cp``, ``tee``) are ``write``: allowed;
- destructive file operations (``rm``, ``mv``, ``dd``, ``truncate``, ``mkfs``, ``find
  -delete``), shutdown and reboot are ``destroy``: held;
- user, group, permission and privilege changes (``chmod``, ``useradd``, ``passwd``, ``sudo``,
  ``su``) are ``privilege``: held;
- service control, package changes, firewall and network changes, kernel and mount changes are
  ``config``: held;
- interpreters and programs the table does not know (``python``, ``awk``, ``make``, a script)
  are ``procedural``: held, since what they do is not on their command line. A connection
  allows the ones it trusts by name: ``{action = "allow", kind = "procedural", function =
  "make"}``.

A word the gateway cannot know counts as the riskier reading wherever it decides the kind
(``systemctl $X`` is service control). Wrappers (``sudo``, ``env``, ``bash -c``, ``xargs``,
``find -exec``) are unwrapped by :mod:`gateway.ssh.shell`, which asks this table for the
program they run.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from gateway.guardrails import Finding, Kind

__all__ = ["SHELLS", "WRAPPERS", "judge_program"]

Words = Sequence[str | None]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


SHELLS = frozenset(["bash", "sh", "dash", "zsh", "ksh", "ash", "busybox"])
# Programs that run another program given in their words (gateway.ssh.shell unwraps them).
WRAPPERS = frozenset(
    ["sudo", "doas", "env", "nice", "nohup", "time", "timeout", "exec", "command", "builtin",
     "xargs", "stdbuf", "ionice", "setsid", "chroot", "runuser", "su"]
)  # fmt: skip

READS = _words(
    """ls ll dir cat tac head tail less more grep egrep fgrep zgrep zcat bzcat xzcat rg ag stat
    file wc du df free uptime uname hostname id whoami who w last lastlog ps pgrep pidof printenv
    echo printf date cal pwd which type whereis realpath readlink basename dirname sort uniq cut
    tr column nl fold fmt paste join comm diff cmp md5sum sha1sum sha256sum sha512sum cksum
    base64 xxd od hexdump strings lsblk lscpu lsmem lspci lsusb lsof lsmod blkid findmnt vmstat
    iostat mpstat sar dmesg ss netstat ping ping6 traceroute tracepath dig nslookup host getent
    nproc true false test [ sleep seq yes env-print locale tty stty groups arch uptime whatis
    man apropos jq yq tree look hostid getconf ulimit cd pushd popd dirs export unset set read
    wait jobs history exit return shift local declare typeset let : help"""
)
WRITES = _words("mkdir touch cp tee ln install mktemp gzip gunzip bzip2 bunzip2 xz unxz zip unzip")
DESTROYS = _words(
    """rm rmdir shred unlink mv dd truncate wipefs fdisk sfdisk parted mkswap shutdown reboot
    halt poweroff telinit init"""
)
PRIVILEGES = _words(
    """sudo doas su pkexec runuser chmod chown chgrp chattr setfacl setcap useradd userdel
    usermod adduser deluser groupadd groupdel groupmod gpasswd passwd chpasswd chage visudo
    newgrp vipw vigr"""
)
CONFIGS = _words(
    """iptables ip6tables iptables-restore ip6tables-restore nft ufw firewall-cmd route ifup
    ifdown nmcli brctl tc ethtool iwconfig sysctl modprobe insmod rmmod mount umount swapon
    swapoff kill killall pkill hostnamectl timedatectl localectl update-alternatives
    update-grub grub-install chronyc at batch crontab apt apt-get aptitude dpkg yum dnf rpm
    zypper apk pacman snap flatpak pip pip3 npm gem cargo"""
)
# Subcommands (or flags) that only look: the rest of these programs change something.
_LOOKING = {
    "systemctl": _words(
        "status show list-units list-unit-files list-timers list-sockets list-dependencies "
        "is-active is-enabled is-failed cat help --version"
    ),
    "service": frozenset(["status", "--status-all"]),
    "journalctl": frozenset(),  # decided by its flags (_journalctl)
    "apt": frozenset(["list", "search", "show", "policy", "depends", "rdepends", "--version"]),
    "apt-cache": frozenset(["search", "show", "policy", "depends", "rdepends", "showpkg"]),
    "dpkg": frozenset(["-l", "--list", "-L", "--listfiles", "-s", "--status", "-S", "--search"]),
    "rpm": frozenset(["-q", "-qa", "-qi", "-ql", "-qf", "--query"]),
    "pip": frozenset(["list", "show", "freeze", "--version"]),
    "pip3": frozenset(["list", "show", "freeze", "--version"]),
    "ip": frozenset(["show", "list", "ls", "get"]),
    "crontab": frozenset(["-l"]),
    "docker": frozenset(["ps", "images", "logs", "inspect", "version", "info", "stats", "top"]),
    "kubectl": frozenset(["get", "describe", "logs", "top", "version", "explain", "api-resources"]),
    "git": frozenset(["status", "log", "diff", "show", "branch", "remote", "rev-parse", "blame"]),
}


def judge_program(name: str, words: Words) -> list[Finding]:
    """The findings of running ``name`` with ``words`` (its arguments), wrappers excluded."""
    special = _SPECIAL.get(name)
    if special is not None:
        return special(name, words)
    if name in _LOOKING:
        return _by_subcommand(name, words)
    for kinds, kind, what in _TABLES:
        if name in kinds:
            return [Finding(kind, f"{name}: {what}", function=name)]
    if name.startswith("mkfs"):
        return [Finding(Kind.DESTROY, f"{name}: makes a file system", function=name)]
    return [Finding(Kind.PROCEDURAL, f"{name}: a program the default rules do not know", name)]


_TABLES = (
    (READS, Kind.READ, "reads"),
    (WRITES, Kind.WRITE, "writes files"),
    (DESTROYS, Kind.DESTROY, "destroys data or stops the machine"),
    (PRIVILEGES, Kind.PRIVILEGE, "changes users, permissions or privileges"),
    (CONFIGS, Kind.CONFIG, "changes services, packages, the network or the kernel"),
)


def _by_subcommand(name: str, words: Words) -> list[Finding]:
    """Programs whose first non-option word (or a flag) says whether they look or change."""
    looking = _LOOKING[name]
    first = next((w for w in words if w is None or not w.startswith("-") or w in looking), None)
    if name == "service" and len(words) >= 2:  # service NAME ACTION
        first = words[1]
    if name == "ip":  # ip [OPTIONS] OBJECT [COMMAND]: no command is a listing
        objects = [w for w in words if w is None or not w.startswith("-")]
        first = objects[1] if len(objects) >= 2 else "show"
    if not words and name in {"systemctl", "git", "docker", "kubectl", "crontab"}:
        first = "status" if name in {"systemctl", "git"} else first
    if first is not None and first in looking:
        return [Finding(Kind.READ, f"{name} {first}: reads", function=name)]
    what = "?" if first is None else first
    kind = Kind.PROCEDURAL if name in {"git", "docker", "kubectl"} else Kind.CONFIG
    return [Finding(kind, f"{name} {what}: changes services, packages or the network", name)]


# sed scripts known to only print: a substitution (flags g, i, p, digits), a line range
# printing or deleting from the output, a regex address doing so. Anything else may write
# (``w``) or run (``e``): procedural.
_SED_READS = re.compile(
    r"(?:(?:[0-9]+|\$|/[^/]*/)(?:,(?:[0-9]+|\$|/[^/]*/))?)?"
    r"(?:s(?P<d>[/|#,:])(?:(?!(?P=d)).)*(?P=d)(?:(?!(?P=d)).)*(?P=d)[gIip0-9]*|[pdq=])"
)


def _sed(name: str, words: Words) -> list[Finding]:
    """sed is a read when it edits nothing in place and its script is one it can only print
    with (``_SED_READS``): GNU sed's ``w`` and ``e`` write files and run commands."""
    options = [w for w in words if w is None or w.startswith("-")]
    scripts = [w for w in words if w is not None and not w.startswith("-")]
    if options and options not in (["-n"], ["-E"], ["-r"]):
        return [Finding(Kind.PROCEDURAL, f"{name}: its options may edit files", name)]
    if not scripts or not all(_SED_READS.fullmatch(p.strip()) for p in scripts[0].split(";")):
        return [Finding(Kind.PROCEDURAL, f"{name}: its script may write files or run", name)]
    return [Finding(Kind.READ, f"{name}: reads", function=name)]


def _journalctl(name: str, words: Words) -> list[Finding]:
    changing = ("--vacuum", "--rotate", "--flush", "--sync", "--relinquish", "--setup-keys")
    if any(w is None or w.startswith(changing) for w in words):
        return [Finding(Kind.DESTROY, f"{name}: removes or rotates journal files", name)]
    return [Finding(Kind.READ, f"{name}: reads", function=name)]


def _tar(name: str, words: Words) -> list[Finding]:
    first = next((w for w in words if w is None or w.lstrip("-")), None)
    if first is not None and "t" in first.lstrip("-") and "x" not in first and "c" not in first:
        return [Finding(Kind.READ, f"{name}: lists an archive", function=name)]
    return [Finding(Kind.WRITE, f"{name}: writes files", function=name)]


def _rsync(name: str, words: Words) -> list[Finding]:
    if any(w is None or w.startswith(("--delete", "--remove-source")) for w in words):
        return [Finding(Kind.DESTROY, f"{name}: deletes files", function=name)]
    return [Finding(Kind.WRITE, f"{name}: writes files", function=name)]


def _curl(name: str, words: Words) -> list[Finding]:
    writes = {"-o", "-O", "--output", "--remote-name", "-T", "--upload-file", "-d", "--data"}
    if any(w is None or w in writes or w.startswith("--data") for w in words):
        return [Finding(Kind.WRITE, f"{name}: writes a file or sends data", function=name)]
    return [Finding(Kind.READ, f"{name}: reads", function=name)]


def _sort(name: str, words: Words) -> list[Finding]:
    if any(w is None or w.startswith(("-o", "--output")) for w in words):
        return [Finding(Kind.WRITE, f"{name}: writes a file", function=name)]
    return [Finding(Kind.READ, f"{name}: reads", function=name)]


_SPECIAL = {
    "sed": _sed,
    "journalctl": _journalctl,
    "tar": _tar,
    "rsync": _rsync,
    "curl": _curl,
    "wget": _curl,
    "sort": _sort,
}
