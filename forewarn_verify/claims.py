"""Which claim of a notice certificate must equal which field of the ledger entry it cites.

``check(cert, entries)`` returns one line per disagreement (empty when every claim matches),
where ``entries`` maps ``seq`` to the entry as the certificate carries it (``entries.FIELDS``
plus ``hash``). The portal runs it when it issues a certificate, so a table value edited
behind the ledger's back is flagged in the page and the JSON; ``forewarn-verify`` runs the
same function offline. A claim with a value but no cited entry is flagged too.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator


def _when(value):
    if not isinstance(value, str):
        return value
    try:
        return dt.datetime.fromisoformat(value).astimezone(dt.UTC)
    except ValueError:
        return value


def _payload(entry: dict) -> dict:
    try:
        data = json.loads(entry["payload"])
    except (ValueError, TypeError):
        return {}
    return data if isinstance(data, dict) else {}


def cites(node, path: str = "") -> Iterator[tuple[str, dict]]:
    """Every ledger citation (a dict with seq, hash and action) in the certificate, with a
    readable path ("deliveries[0].ledger[1]")."""
    if isinstance(node, dict):
        if {"seq", "hash", "action"} <= node.keys() and isinstance(node.get("seq"), int):
            yield path, node
            return
        for key, value in node.items():
            if key != "proof":
                yield from cites(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from cites(value, f"{path}[{i}]")


class _Checker:
    def __init__(self, entries: dict[int, dict]):
        self.entries = entries
        self.problems: list[str] = []

    def entry(self, cite: dict | None) -> dict | None:
        seq = cite.get("seq") if cite else None
        return None if seq is None else self.entries.get(seq)

    def same(self, what: str, table, cite: dict, ledger, *, when: bool = False) -> None:
        a, b = (_when(table), _when(ledger)) if when else (table, ledger)
        if a != b:
            self.problems.append(
                f"{what}: the certificate says {table!r} but ledger entry #{cite['seq']} "
                f"records {ledger!r}"
            )

    def unbacked(self, what: str, value) -> None:
        if value not in (None, [], ""):
            self.problems.append(f"{what}: {value!r} is claimed but no ledger entry backs it")


def check(cert: dict, entries: dict[int, dict]) -> list[str]:
    """The disagreements between the certificate's claims and the entries they cite."""
    c = _Checker(entries)
    for path, cite in cites(cert):
        entry = c.entry(cite)
        if entry is None:
            c.problems.append(f"{path}: cites ledger entry #{cite['seq']}, not in the certificate")
            continue
        for key in ("hash", "action", "at"):
            if key in cite and cite[key] != entry.get(key):
                c.same(f"{path}.{key}", cite[key], cite, entry.get(key), when=key == "at")
    _published(c, cert)
    _revisions(c, cert)
    _required(c, cert)
    _notice_given(c, cert)
    _deliveries(c, cert)
    _answers(c, cert)
    _breaches_and_gate(c, cert)
    return c.problems


def _published(c: _Checker, cert: dict) -> None:
    pub = cert.get("published") or {}
    entry = c.entry(pub.get("ledger"))
    if entry is None:
        c.unbacked("published at", pub.get("at"))
    else:
        c.same("published at", pub.get("at"), pub["ledger"], entry["at"], when=True)


def _revisions(c: _Checker, cert: dict) -> None:
    for r in cert.get("revisions") or []:
        entry = c.entry(r.get("ledger"))
        what = f"revision {r.get('number')}"
        if entry is None:
            c.unbacked(what, r.get("at"))
            continue
        p, cite = _payload(entry), r["ledger"]
        c.same(f"{what} at", r.get("at"), cite, entry["at"], when=True)
        c.same(f"{what} number", r.get("number"), cite, p.get("revision"))
        if "material" in p:
            c.same(f"{what} material", r.get("material"), cite, p["material"])


def _required(c: _Checker, cert: dict) -> None:
    req = cert.get("required_notice") or {}
    entry = c.entry(req.get("ledger"))
    if entry is None:
        c.unbacked("required notice", req.get("seconds"))
        return
    p = _payload(entry)
    c.same(
        "required notice (seconds)",
        req.get("seconds"),
        req["ledger"],
        p.get("required_notice_seconds"),
    )
    c.same("required notice basis", req.get("basis"), req["ledger"], p.get("basis"))


def _notice_given(c: _Checker, cert: dict) -> None:
    given = cert.get("notice_given") or {}
    entry = c.entry(given.get("ledger"))
    if entry is None:
        c.unbacked("notice given at", given.get("at"))
        return
    p = _payload(entry)
    c.same("notice given at", given.get("at"), given["ledger"], p.get("notice_given_at"), when=True)
    c.same("notice given for revision", given.get("revision"), given["ledger"], p.get("revision"))


def _deliveries(c: _Checker, cert: dict) -> None:
    for i, d in enumerate(cert.get("deliveries") or []):
        what = f"delivery {i + 1} to {d.get('recipient')}"
        if not d.get("contractual"):
            continue
        cites_ = d.get("ledger") or []
        if not cites_:
            if d.get("status") in ("sent", "failed"):
                c.unbacked(f"{what} ({d.get('status')})", d.get("sent_at") or d.get("failed_at"))
            continue
        for cite in cites_:
            entry = c.entry(cite)
            if entry is not None:
                _delivery(c, what, d, cite, entry, only=len(cites_) == 1)


def _delivery(c: _Checker, what: str, d: dict, cite: dict, entry: dict, *, only: bool) -> None:
    """One delivery against its own entry (the payload describes it) or a batch entry that
    lists it under "deliveries"; only the fields the entry records are compared."""
    payload = _payload(entry)
    listed = payload.get("deliveries")
    if isinstance(listed, list):
        item = _matching([x for x in listed if isinstance(x, dict)], d)
        if item is None:
            c.problems.append(f"{what}: ledger entry #{cite['seq']} does not list it")
            return
    else:
        item = {**payload, "accepted_at": entry["at"], "failed_at": entry["at"]}
    for key, label in (("recipient", "recipient"), ("message_id", "Message-ID")):
        if key in item:
            c.same(f"{what} {label}", d.get(key), cite, item[key])
    if entry["action"] == "notice.delivered":
        c.same(f"{what} status", d.get("status"), cite, "sent")
        c.same(f"{what} accepted at", d.get("sent_at"), cite, item.get("accepted_at"), when=True)
        if "smtp_reply" in item:
            c.same(f"{what} SMTP answer", d.get("smtp_reply"), cite, item["smtp_reply"])
    elif entry["action"] == "notice.failed" and only:
        c.same(f"{what} status", d.get("status"), cite, "failed")
        c.same(f"{what} failed at", d.get("failed_at"), cite, item.get("failed_at"), when=True)


def _matching(items: list[dict], d: dict) -> dict | None:
    for item in items:
        if d.get("message_id") and item.get("message_id") == d.get("message_id"):
            return item
    for item in items:
        if str(item.get("recipient", "")).lower() == str(d.get("recipient", "")).lower():
            return item
    return None


def _answers(c: _Checker, cert: dict) -> None:
    for i, a in enumerate(cert.get("acknowledgements") or []):
        entry = c.entry(a.get("ledger"))
        if entry is None:
            c.unbacked(f"acknowledgement {i + 1}", a.get("at"))
            continue
        p, cite = _payload(entry), a["ledger"]
        c.same(f"acknowledgement {i + 1} at", a.get("at"), cite, entry["at"], when=True)
        c.same(f"acknowledgement {i + 1} by", a.get("by"), cite, p.get("by"))
        c.same(f"acknowledgement {i + 1} channel", a.get("channel"), cite, p.get("channel"))
        c.same(f"acknowledgement {i + 1} revision", a.get("revision"), cite, p.get("revision"))
    for i, o in enumerate(cert.get("objections") or []):
        entry = c.entry(o.get("ledger"))
        if entry is None:
            c.unbacked(f"objection {i + 1}", o.get("at"))
            continue
        c.same(f"objection {i + 1} at", o.get("at"), o["ledger"], entry["at"], when=True)
        c.same(
            f"objection {i + 1} reason", o.get("reason"), o["ledger"], _payload(entry).get("reason")
        )
        answer = c.entry(o.get("answer_ledger"))
        if answer is None:
            c.unbacked(f"objection {i + 1} answer", o.get("answer"))
        else:
            c.same(
                f"objection {i + 1} answer",
                o.get("answer"),
                o["answer_ledger"],
                _payload(answer).get("answer"),
            )
    for i, w in enumerate(cert.get("waivers") or []):
        entry = c.entry(w.get("ledger"))
        if entry is None:
            c.unbacked(f"waiver {i + 1}", w.get("at"))
            continue
        p, cite = _payload(entry), w["ledger"]
        c.same(f"waiver {i + 1} at", w.get("at"), cite, entry["at"], when=True)
        for key in ("revision", "channel", "agreed_by", "note"):
            c.same(f"waiver {i + 1} {key.replace('_', ' ')}", w.get(key), cite, p.get(key))
    for i, r in enumerate(cert.get("feed_receipts") or []):
        entry = c.entry(r.get("ledger"))
        if entry is None:
            continue
        pairs = _payload(entry).get("revisions") or []
        change_id = (cert.get("change") or {}).get("id")
        if [change_id, r.get("revision")] not in pairs:
            c.problems.append(
                f"feed fetch {i + 1}: ledger entry #{r['ledger']['seq']} does not show revision "
                f"{r.get('revision')} of change {change_id} being fetched"
            )


def _breaches_and_gate(c: _Checker, cert: dict) -> None:
    for i, b in enumerate(cert.get("breaches") or []):
        entry = c.entry(b.get("ledger"))
        if entry is None:
            c.unbacked(f"notice breach {i + 1}", b.get("required_notice_seconds"))
            continue
        p, cite = _payload(entry), b["ledger"]
        for key in ("required_notice_seconds", "given_notice_seconds", "justification"):
            c.same(f"notice breach {i + 1} {key.replace('_', ' ')}", b.get(key), cite, p.get(key))
    gate = cert.get("gate") or {}
    entry = c.entry(gate.get("ledger"))
    if entry is None:
        c.unbacked("started for this tenant at", gate.get("started_at"))
    else:
        c.same(
            "started for this tenant at",
            gate.get("started_at"),
            gate["ledger"],
            entry["at"],
            when=True,
        )
