"""The account manager's desk: my tenants, a per-change matrix of notice and answers,
charts, CSV export and per-tenant history (issue 6, part 3)."""
