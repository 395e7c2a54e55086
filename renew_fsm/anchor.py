"""Anchors: the heads of every chain at one moment, pinned outside the database.

The history key stops someone who has only the database from rewriting a
chain; it cannot stop someone who also has the key, and it cannot tell a chain
cut back to an earlier record (with its instance rolled back to match) from
one that never grew.  An anchor can: ``renew-fsm anchor --out FILE`` writes,
beside ``FILE``, a heads file naming every chain, how many records it had and
a fold of them (a SHA-256 chained over every field of every record, the
stored hash included — computed without the key, so an auditor without it can
check it), and appends to ``FILE`` one line with the SHA-256 of that heads
file.  That line is small enough to print, sign or mail away each day.

``verify --anchor FILE`` checks each heads file against its line, then every
anchored chain against its fold: a record before the anchor edited (and
rehashed with the key or not), removed, or a chain cut short is named.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs

from .machines import CASE_MACHINES
from .model import CASE_PREFIX, Record
from .storage import Storage
from .storage.base import policy_text_sha256

_SEP = "\x1f"
#: The registry log's chain, in a heads file (no cycle of instances or cases is spelled so).
REGISTRY = "registry_log"
#: A stored policy, in a heads file: its id@version and the SHA-256 of its text.
POLICY = "policy"


def fold(prev: str, fields: Iterable[Any]) -> str:
    """The next link of a keyless chain over every field (``None`` apart from ``""``)."""
    text = _SEP.join((prev, *("\x00" if f is None else str(f) for f in fields)))
    return hashlib.sha256(text.encode()).hexdigest()


def fold_records(records: Iterable[Record]) -> Iterator[tuple[int, str, str]]:
    """(seq, stored hash, fold up to it) after each record of one chain, oldest first."""
    link = ""
    for rec in records:
        link = fold(link, rec)
        yield rec.seq, rec.hash, link


def chain_names(storage: Storage) -> list[str]:
    """Every chain's 'cycle' in the history table: each cycle of instances, each workflow machine."""
    return [*storage.cycles(), *(CASE_PREFIX + m for m in CASE_MACHINES)]


def heads(storage: Storage) -> Iterator[str]:
    """The heads file's lines: ``cycle TAB id TAB seq TAB hash TAB fold`` for each chain, then the
    registry log's head and each stored policy's SHA-256."""
    for cycle in chain_names(storage):
        stream = storage.all_history(cycle)
        try:
            for chain, records in itertools.groupby(stream, key=lambda r: r.doctor):
                last = None
                for step in fold_records(records):
                    last = step
                if last is not None:
                    yield "\t".join((cycle, chain, str(last[0]), last[1], last[2]))
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
    link, tail = "", None
    for entry in storage.registry_log():
        link = fold(link, entry)
        tail = entry
    if tail is not None:
        yield "\t".join((REGISTRY, "", str(tail[0]), tail[4], link))
    for pid, version, text, _ in storage.policies():
        sha = policy_text_sha256(text)
        yield "\t".join((POLICY, f"{pid}@{version}", "0", sha, sha))


def write(storage: Storage, out: Path, now: dt.datetime | None = None) -> dict[str, Any]:
    """Write a heads file beside ``out`` and append its line to ``out``; returns the line's fields."""
    now = now or dt.datetime.now(dt.UTC)
    lines = list(heads(storage))
    body = "".join(line + "\n" for line in lines).encode()
    sha = hashlib.sha256(body).hexdigest()
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    target = out.with_name(f"{out.name}.{stamp}.{sha[:8]}.heads")
    target.write_bytes(body)
    chains = [line for line in lines if not line.startswith((REGISTRY + "\t", POLICY + "\t"))]
    line = {
        "anchored_at": now.isoformat(timespec="seconds"),
        "chains": len(chains),
        "records": sum(int(c.split("\t")[2]) for c in chains),
        "heads": target.name,
        "sha256": sha,
    }
    with out.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
    return line


@attrs.define
class Anchors:
    """What every line of an anchor file pins, merged: chain → {seq: (fold, line)}, and what is wrong
    with the file itself (a heads file missing or not matching its line)."""

    chains: dict[tuple[str, str], dict[int, tuple[str, int]]] = attrs.Factory(dict)
    registry: dict[int, tuple[str, int]] = attrs.Factory(dict)
    policies: dict[str, tuple[str, int]] = attrs.Factory(dict)
    problems: list[str] = attrs.Factory(list)
    lines: int = 0
    newest: str | None = None


def load(path: Path) -> Anchors:
    """Every line of the anchor file at ``path`` and its heads file, checked against each other."""
    found = Anchors()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        found.problems.append(f"cannot read the anchor file {path}: {exc}")
        return found
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
            name, sha = str(line["heads"]), str(line["sha256"])
        except (ValueError, KeyError, TypeError):
            found.problems.append(f"{path} line {number} is not an anchor line")
            continue
        heads_file = path.parent / Path(name).name
        try:
            body = heads_file.read_bytes()
        except OSError:
            found.problems.append(f"{path} line {number}: its heads file {heads_file.name} is missing")
            continue
        if hashlib.sha256(body).hexdigest() != sha:
            found.problems.append(
                f"{path} line {number}: the heads file {heads_file.name} does not match the line's SHA-256 "
                "(the heads file was changed)"
            )
            continue
        found.lines += 1
        found.newest = str(line.get("anchored_at"))
        for row in body.decode().splitlines():
            cycle, chain, seq, _, link = row.split("\t")
            if cycle == REGISTRY:
                found.registry[int(seq)] = (link, number)
            elif cycle == POLICY:
                found.policies[chain] = (link, number)
            else:
                found.chains.setdefault((cycle, chain), {})[int(seq)] = (link, number)
    return found


def check_chain(pins: dict[int, tuple[str, int]], records: Iterable[Record], when: str) -> list[str]:
    """What in one chain's records differs from what the anchor lines pinned of it."""
    out = []
    left = dict(pins)
    for seq, _, link in fold_records(records):
        pinned = left.pop(seq, None)
        if pinned is not None and pinned[0] != link:
            out.append(
                f"records 1–{seq} are not what anchor line {pinned[1]} pinned{when}: a record before it was "
                "changed, removed or rehashed"
            )
    for seq, (_, number) in sorted(left.items()):
        out.append(f"record {seq}, pinned by anchor line {number}{when}, is gone: the chain was cut short")
    return out


__all__ = ["Anchors", "check_chain", "fold", "heads", "load", "write"]
