"""Response schemas of the certificates API: the notice certificate and the equal-notice report.

The documents' sections are declared by name and kind; their inner fields are the documents'
own (``portal.certificates.services.build``, ``portal.certificates.equal_notice``).
"""

from __future__ import annotations

from marshmallow import fields, validate

from portal.api.fields import Schema, Time

_SECTION = {"description": "a section of the document, with its ledger evidence"}


def _section(**kwargs) -> fields.Dict:
    return fields.Dict(metadata=_SECTION, **kwargs)


def _sections(**kwargs) -> fields.List:
    return fields.List(fields.Dict(), metadata=_SECTION, **kwargs)


class CertificateSchema(Schema):
    """Notice certificate of one tenant for one change (DESIGN.md "Certificates")."""

    certificate = _section(required=True)
    tenant = _section(required=True)
    change = _section(required=True)
    required_notice = _section(required=True)
    published = _section(required=True)
    revisions = _sections(required=True)
    notice_given = _section(required=True)
    deliveries = _sections(required=True)
    feed_receipts = _sections(required=True)
    acknowledgements = _sections(required=True)
    objections = _sections(required=True)
    waivers = _sections(required=True)
    breaches = _sections(required=True)
    gate = _section(required=True)
    ledger_verification = _section(required=True)
    # Whether every claim matches the ledger entry it cites; and the cited entries, their
    # inclusion proofs, the signed checkpoint and consistency proofs (docs/proof.md).
    ledger_agreement = _section()
    proof = _section()


class CertificateQuerySchema(Schema):
    # Bounded so the whole URL stays well inside what servers accept (werkzeug: 64 KiB).
    since = fields.List(
        fields.String(validate=validate.Length(max=1000)),
        validate=validate.Length(max=4),
        metadata={
            "description": "an older checkpoint (tree size, or as an email carries it): adds "
            "a consistency proof from it; repeatable"
        },
    )


class EqualNoticeChangeSchema(Schema):
    id = fields.Integer(required=True)
    title = fields.String(required=True)
    status = fields.String(required=True)


class EqualNoticeSchema(Schema):
    """Spread of notice times, first-party against third-party tenants, per revision."""

    change = fields.Nested(EqualNoticeChangeSchema, required=True)
    generated_at = Time(required=True)
    first_party_told_earlier = fields.Boolean(required=True)
    revisions = fields.List(fields.Dict(), required=True, metadata=_SECTION)
