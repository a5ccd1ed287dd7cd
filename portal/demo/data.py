"""The believable provider the demo seeds: teams, services, tenants and people.

Plain data only; ``portal.demo.seed`` turns it into rows. Slugs and emails are the natural keys
that make seeding idempotent, so never rename one without a migration of the demo database.
"""

from __future__ import annotations

from typing import Any

TEAMS = [
    ("vision", "Vision"),
    ("data", "Data Platform"),
    ("edge", "Edge Network"),
    ("identity", "Identity"),
]

# (slug, name, team slug, description, components as (slug, name))
SERVICES = [
    (
        "face-fusion-api",
        "Face Fusion API",
        "vision",
        "Blends and restyles faces in images; used by photo, avatar and KYC products.",
        [
            ("ap-east", "Asia Pacific (Taipei)"),
            ("eu-west", "Europe (Dublin)"),
            ("us-east", "US East (Virginia)"),
        ],
    ),
    (
        "ocr-api",
        "Document OCR API",
        "vision",
        "Text and layout extraction from scanned documents.",
        [("eu-west", "Europe (Dublin)")],
    ),
    (
        "image-moderation",
        "Image Moderation",
        "vision",
        "Classifies uploads for unsafe content.",
        [],
    ),
    (
        "object-storage",
        "Object Storage",
        "data",
        "S3-compatible buckets with lifecycle rules.",
        [("eu-west", "Europe (Dublin)"), ("us-east", "US East (Virginia)")],
    ),
    (
        "managed-postgres",
        "Managed PostgreSQL",
        "data",
        "Hosted PostgreSQL clusters with point-in-time recovery.",
        [],
    ),
    ("cdn", "Global CDN", "edge", "Edge caching and TLS termination in 40 cities.", []),
    ("dns", "Managed DNS", "edge", "Authoritative DNS with health-checked failover.", []),
    ("sso", "Single Sign-On", "identity", "OIDC and SAML sign-in for customers' users.", []),
]

# (slug, name, IANA zone, first party). Tapai and Ptu carry the story in DESIGN.md.
TENANTS = [
    ("tapai", "Tapai", "Asia/Taipei", False),
    ("ptu", "Ptu", "Europe/Berlin", True),
    ("ptu-photos", "Ptu Photos", "Europe/Berlin", True),
    ("ptu-id", "Ptu ID Check", "Europe/Dublin", True),
    ("lumen-retail", "Lumen Retail", "Europe/London", False),
    ("harbor-bank", "Harbor Bank", "America/New_York", False),
    ("kiwi-health", "Kiwi Health", "Pacific/Auckland", False),
    ("sakura-games", "Sakura Games", "Asia/Tokyo", False),
    ("andes-logistics", "Andes Logistics", "America/Santiago", False),
    ("nordlys-energy", "Nordlys Energy", "Europe/Oslo", False),
    ("sahara-pay", "Sahara Pay", "Africa/Casablanca", False),
    ("maple-insurance", "Maple Insurance", "America/Toronto", False),
    ("outback-travel", "Outback Travel", "Australia/Sydney", False),
    ("ganges-telecom", "Ganges Telecom", "Asia/Kolkata", False),
    ("baltic-shipping", "Baltic Shipping", "Europe/Riga", False),
    ("cedar-clinics", "Cedar Clinics", "Asia/Beirut", False),
    ("pampas-foods", "Pampas Foods", "America/Argentina/Buenos_Aires", False),
    ("fjord-media", "Fjord Media", "Europe/Oslo", False),
    ("savanna-mobile", "Savanna Mobile", "Africa/Nairobi", False),
    ("lagoon-hotels", "Lagoon Hotels", "Europe/Rome", False),
    ("redwood-labs", "Redwood Labs", "America/Los_Angeles", False),
    ("danube-auto", "Danube Auto", "Europe/Vienna", False),
    ("atlas-freight", "Atlas Freight", "Europe/Madrid", False),
    ("monsoon-ride", "Monsoon Ride", "Asia/Jakarta", False),
    ("pearl-fintech", "Pearl Fintech", "Asia/Dubai", False),
    ("tundra-analytics", "Tundra Analytics", "Europe/Helsinki", False),
    ("coral-education", "Coral Education", "Asia/Manila", False),
    ("aurora-streaming", "Aurora Streaming", "America/Chicago", False),
    ("quay-legal", "Quay Legal", "Europe/Dublin", False),
    ("jade-commerce", "Jade Commerce", "Asia/Shanghai", False),
    ("vista-realty", "Vista Realty", "America/Denver", False),
    ("oak-pharma", "Oak Pharma", "Europe/Zurich", False),
    ("albatross-air", "Albatross Air", "America/Sao_Paulo", False),
    ("kestrel-security", "Kestrel Security", "Europe/Warsaw", False),
    ("lotus-beauty", "Lotus Beauty", "Asia/Bangkok", False),
    ("granite-construct", "Granite Construct", "America/Phoenix", False),
    ("hanok-studio", "Hanok Studio", "Asia/Seoul", False),
    ("tidewater-utilities", "Tidewater Utilities", "America/New_York", False),
    ("zephyr-wind", "Zephyr Wind", "Europe/Copenhagen", False),
    ("mesa-markets", "Mesa Markets", "America/Mexico_City", False),
    ("bosphorus-bank", "Bosphorus Bank", "Europe/Istanbul", False),
    ("nile-ventures", "Nile Ventures", "Africa/Cairo", False),
    ("cape-wines", "Cape Wines", "Africa/Johannesburg", False),
    ("alpine-rail", "Alpine Rail", "Europe/Zurich", False),
    ("merlion-capital", "Merlion Capital", "Asia/Singapore", False),
    ("kauri-software", "Kauri Software", "Pacific/Auckland", False),
    ("prairie-agri", "Prairie Agri", "America/Winnipeg", False),
    ("tagus-telecom", "Tagus Telecom", "Europe/Lisbon", False),
    ("isar-mobility", "Isar Mobility", "Europe/Berlin", False),
    ("seine-fashion", "Seine Fashion", "Europe/Paris", False),
    ("rhine-chemicals", "Rhine Chemicals", "Europe/Amsterdam", False),
    ("vltava-games", "Vltava Games", "Europe/Prague", False),
    ("mekong-delivery", "Mekong Delivery", "Asia/Ho_Chi_Minh", False),
    ("andaman-resorts", "Andaman Resorts", "Asia/Bangkok", False),
    ("yarra-sports", "Yarra Sports", "Australia/Melbourne", False),
    ("swan-mining", "Swan Mining", "Australia/Perth", False),
    ("hudson-daily", "Hudson Daily", "America/New_York", False),
    ("cascade-outdoor", "Cascade Outdoor", "America/Vancouver", False),
    ("inca-textiles", "Inca Textiles", "America/Lima", False),
    ("fuji-robotics", "Fuji Robotics", "Asia/Tokyo", False),
]

# Contract terms beyond Tapai's: (tenant slug, service slug or None for all, hours, clause).
CONTRACT_TERMS = [
    ("tapai", "face-fusion-api", 72, "MSA 2025-118 §7.2: 72 h notice of any Face Fusion change"),
    ("harbor-bank", None, 120, "Banking addendum §4: five days' notice of every change"),
    ("oak-pharma", None, 96, "GxP quality agreement §3.1"),
    ("bosphorus-bank", "sso", 168, "Identity services schedule B"),
]

# Every person gets the demo password. (key, email, name, zone, attributes)
STAFF: list[tuple[str, str, str, str | None, dict[str, Any]]] = [
    ("admin", "admin@forewarn.example", "Ada Admin", None, {"is_admin": True}),
    (
        "engineer",
        "engineer@forewarn.example",
        "Erin Engineer",
        "Europe/Berlin",
        {"teams": ["vision"]},
    ),
    (
        "approver",
        "approver@forewarn.example",
        "Arun Approver",
        "Asia/Kolkata",
        {"teams": ["vision"], "approver": True},
    ),
    ("data-engineer", "dana@forewarn.example", "Dana Data", "Europe/Dublin", {"teams": ["data"]}),
    (
        "edge-engineer",
        "eddie@forewarn.example",
        "Eddie Edge",
        "America/New_York",
        {"teams": ["edge", "identity"], "approver": True},
    ),
    (
        "identity-engineer",
        "ida@forewarn.example",
        "Ida Identity",
        "Europe/Oslo",
        {"teams": ["identity"]},
    ),
    (
        "manager",
        "manager@forewarn.example",
        "Mia Manager",
        "Europe/London",
        {
            "is_account_manager": True,
            "manages": [
                "tapai",
                "ptu",
                "ptu-photos",
                "ptu-id",
                "harbor-bank",
                "sakura-games",
                "kiwi-health",
                "lumen-retail",
                "jade-commerce",
                "merlion-capital",
            ],
        },
    ),
    (
        "manager2",
        "marco@forewarn.example",
        "Marco Manager",
        "America/New_York",
        {
            "is_account_manager": True,
            "manages": [
                "maple-insurance",
                "aurora-streaming",
                "redwood-labs",
                "oak-pharma",
                "bosphorus-bank",
                "albatross-air",
            ],
        },
    ),
]

# (key, email, name, tenant slug, tenant admin)
CUSTOMERS = [
    ("tapai-admin", "admin@tapai.example", "Lin Mei-hua", "tapai", True),
    ("ptu-user", "user@ptu.example", "Jonas Weber", "ptu", False),
    ("ptu-admin", "admin@ptu.example", "Petra Ulrich", "ptu", True),
    ("harbor-admin", "admin@harbor-bank.example", "Grace Okafor", "harbor-bank", True),
]

# Notice contacts: the first one or more of these local parts, per tenant.
CONTACT_ROLES = [
    ("change-notices", "Change notices"),
    ("ops", "Operations desk"),
    ("cto", "CTO office"),
]
