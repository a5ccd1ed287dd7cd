"""``forewarn import``: tenants, contacts and usage from CSV; all or nothing, clear row errors."""

import json
import re
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.catalog.models import Usage
from portal.extensions import db
from portal.ledger.models import LedgerEntry
from portal.ledger.services import verify
from portal.tenants.models import NoticeContact, Tenant


@pytest.fixture
def run_import(app, tmp_path):
    """``run_import(tenants=..., contacts=..., usage=..., extra=[])``: write the CSV texts
    (str, or bytes written as they are) to files and run the command; returns the result."""

    def _run(extra=(), **files):
        args = ["import"]
        for key, content in files.items():
            path = tmp_path / f"{key}.csv"
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
            args += [f"--{key}", str(path)]
        db.session.commit()
        result = app.test_cli_runner().invoke(args=[*args, *extra])
        db.session.expire_all()
        return result

    return _run


def count(model) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


@pytest.fixture
def catalog(make_service):
    service = make_service(slug="face-fusion", components=["eu-west"])
    make_service(slug="storage")
    return service


TENANTS = """slug,name,time_zone,first_party
tapai,Tapai,Asia/Taipei,no
ptu,Ptu,Europe/Berlin,yes
"""
CONTACTS = """tenant,email,name
tapai,ops@tapai.example,Tapai Ops
ptu,noc@ptu.example,
"""
USAGE = """tenant,service,component
tapai,face-fusion,
ptu,face-fusion,eu-west
ptu,storage,
"""


def test_good_files_are_imported_with_ledger_entries(run_import, catalog):
    result = run_import(tenants=TENANTS, contacts=CONTACTS, usage=USAGE)
    assert result.exit_code == 0, result.output
    assert "tenants: 2 new" in result.output and "usage: 3 new" in result.output
    ptu = db.session.execute(select(Tenant).where(Tenant.slug == "ptu")).scalar_one()
    assert ptu.first_party and ptu.time_zone == "Europe/Berlin"
    assert [c.email for c in ptu.contacts] == ["noc@ptu.example"]
    assert {(u.service.slug, u.component.slug if u.component else None) for u in ptu.usages} == {
        ("face-fusion", "eu-west"),
        ("storage", None),
    }
    actions = (
        db.session.execute(select(LedgerEntry.action).order_by(LedgerEntry.seq)).scalars().all()
    )
    assert actions == ["tenant.imported", "tenant.imported", "import.applied"]
    entry = db.session.execute(
        select(LedgerEntry).where(LedgerEntry.tenant_id == ptu.id)
    ).scalar_one()
    assert json.loads(entry.payload) == {
        "slug": "ptu",
        "created": {"name": "Ptu", "time_zone": "Europe/Berlin", "first_party": True},
        "contacts_added": ["noc@ptu.example"],
        "usage_added": ["face-fusion/eu-west", "storage"],
    }
    assert verify().ok


def test_reimport_is_idempotent_and_updates_by_slug(run_import, catalog):
    run_import(tenants=TENANTS, contacts=CONTACTS, usage=USAGE)
    entries = count(LedgerEntry)
    again = run_import(tenants=TENANTS, contacts=CONTACTS, usage=USAGE)
    assert again.exit_code == 0
    assert "0 new, 0 updated, 2 unchanged" in again.output
    assert count(Tenant) == 2 and count(NoticeContact) == 2 and count(Usage) == 3
    assert count(LedgerEntry) == entries + 1  # only the import.applied summary
    renamed = run_import(tenants="slug,name\ntapai,Tapai Corp\n")
    assert "1 updated" in renamed.output
    tapai = db.session.execute(select(Tenant).where(Tenant.slug == "tapai")).scalar_one()
    # Columns left out keep their values.
    assert (tapai.name, tapai.time_zone) == ("Tapai Corp", "Asia/Taipei")


def test_bad_rows_are_all_reported_and_nothing_is_written(run_import, catalog):
    tenants = (
        "slug,name,time_zone,first_party\n"
        "good,Good,UTC,no\n"
        "Bad Slug,Bad,UTC,no\n"
        "zone,Zone,Mars/Olympus,no\n"
        "flag,Flag,UTC,perhaps\n"
        "noname,,UTC,\n"
        "short,Short\n"
    )
    contacts = "tenant,email\ngood,not-an-email\nnobody,ops@nobody.example\n"
    result = run_import(tenants=tenants, contacts=contacts)
    assert result.exit_code == 1
    out = result.output
    assert "tenants.csv:3: column 'slug': 'Bad Slug' is not a valid slug" in out
    assert "tenants.csv:4: column 'time_zone': unknown time zone 'Mars/Olympus'" in out
    assert "tenants.csv:5: column 'first_party': 'perhaps' is not yes/no" in out
    assert "tenants.csv:6: column 'name': a name is required" in out
    assert "tenants.csv:7: expected 4 fields" in out
    assert "contacts.csv:2: column 'email': 'not-an-email' is not a valid email" in out
    assert "contacts.csv:3: column 'tenant': unknown tenant 'nobody'" in out
    assert "Import refused: 7 error(s); nothing was written." in out
    assert count(Tenant) == 0 and count(NoticeContact) == 0 and count(LedgerEntry) == 0


def test_unknown_service_and_component_are_refused(run_import, catalog, make_tenant):
    make_tenant("tapai")
    usage = (
        "tenant,service,component\n"
        "tapai,face-fusion,\n"
        "tapai,no-such-service,\n"
        "tapai,face-fusion,mars-north\n"
    )
    result = run_import(usage=usage)
    assert result.exit_code == 1
    assert "usage.csv:3: column 'service': unknown service 'no-such-service'" in result.output
    assert (
        "usage.csv:4: column 'component': face-fusion has no component 'mars-north'"
        in result.output
    )
    assert count(Usage) == 0


def test_duplicates_within_a_file_are_refused(run_import, catalog):
    tenants = "slug,name\ntapai,Tapai\nptu,Ptu\ntapai,Tapai again\n"
    contacts = "tenant,email\ntapai,ops@tapai.example\ntapai,OPS@tapai.example\n"
    usage = "tenant,service\nptu,storage\nptu,storage\n"
    result = run_import(tenants=tenants, contacts=contacts, usage=usage)
    assert result.exit_code == 1
    assert "tenants.csv:4: column 'slug': duplicate slug 'tapai' (first on line 2)" in result.output
    assert "contacts.csv:3: column 'email': duplicate contact" in result.output
    assert "usage.csv:3: duplicate usage (first on line 2)" in result.output
    assert count(Tenant) == 0


def test_header_problems_are_reported(run_import):
    result = run_import(tenants="slug,title,colour\nx,X,red\n")
    assert result.exit_code == 1
    assert (
        "tenants.csv:1: header: missing column(s) name; unknown column(s) 'title', "
        "'colour'" in result.output
    )
    empty = run_import(contacts="")
    assert "contacts.csv:1: the file is empty" in empty.output


def test_utf8_bom_and_quoted_fields_are_read(run_import):
    text = 'slug,name\r\nzurich,"Zürich Versicherung, AG"\r\nquote,"Say ""hi"""\r\n\r\n'
    result = run_import(tenants=b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert result.exit_code == 0, result.output
    names = set(db.session.execute(select(Tenant.name)).scalars())
    assert names == {"Zürich Versicherung, AG", 'Say "hi"'}


def test_a_file_that_is_not_utf8_is_refused_with_its_line(run_import):
    data = "slug,name\nok,Ok\nzurich,Zürich\n".encode("latin-1")
    result = run_import(tenants=data)
    assert result.exit_code == 1
    assert "tenants.csv:3: not UTF-8 (byte 0xfc" in result.output
    assert count(Tenant) == 0


def test_malformed_csv_is_refused(run_import):
    result = run_import(tenants='slug,name\nok,"unterminated\n')
    assert result.exit_code == 1 and "malformed CSV" in result.output
    assert count(Tenant) == 0


def test_dry_run_writes_nothing(run_import):
    result = run_import(tenants=TENANTS, extra=["--dry-run"])
    assert result.exit_code == 0 and "Would import tenants: 2 new" in result.output
    assert count(Tenant) == 0 and count(LedgerEntry) == 0


def test_no_file_is_a_usage_error(app):
    result = app.test_cli_runner().invoke(args=["import"])
    assert result.exit_code == 2 and "at least one of" in result.output


def test_five_thousand_tenants_import_quickly(run_import, catalog):
    rows = ["slug,name,time_zone,first_party"]
    rows += [
        f"customer-{i},Customer {i},Europe/Berlin,{'yes' if i % 50 == 0 else 'no'}"
        for i in range(5000)
    ]
    contacts = ["tenant,email,name"] + [f"customer-{i},ops@c{i}.example,Ops" for i in range(5000)]
    usage = ["tenant,service"] + [f"customer-{i},face-fusion" for i in range(5000)]
    started = time.perf_counter()
    result = run_import(
        tenants="\n".join(rows), contacts="\n".join(contacts), usage="\n".join(usage)
    )
    elapsed = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    assert count(Tenant) == 5000 and count(NoticeContact) == 5000 and count(Usage) == 5000
    assert elapsed < 30, f"import of 5,000 rows per file took {elapsed:.1f}s"
    print(f"5,000 tenants + contacts + usage imported in {elapsed:.2f}s")


def test_the_example_in_the_docs_imports(run_import, make_service):
    make_service(slug="face-fusion-api", components=["eu-west"])
    doc = (Path(__file__).resolve().parents[2] / "docs" / "import.md").read_text()
    blocks = re.findall(r"`(\w+)\.csv`\n\n```csv\n(.*?)```", doc, re.S)
    assert [name for name, _ in blocks] == ["tenants", "contacts", "usage"]
    result = run_import(**dict(blocks))
    assert result.exit_code == 0, result.output
    assert "tenants: 3 new" in result.output and count(Usage) == 2
