"""The tamper-evident, hash-chained ledger (DESIGN.md "Proof")."""
