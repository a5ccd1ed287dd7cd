"""Notice certificates per (change, tenant) and the equal-notice report (DESIGN.md "Proof")."""
