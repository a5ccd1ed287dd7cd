"""Offline verification of Forewarn notice certificates (``forewarn-verify``).

This package imports only the standard library and ``cryptography``: a customer can check a
certificate with nothing but this code, the provider's public key and the checkpoints its
notice emails carried. The portal uses the same functions to build what this code checks, so
there is one implementation of each rule:

- ``rfc9162``: Merkle tree hashing, inclusion and consistency proofs (RFC 9162 §2.1);
- ``notes``: checkpoints (C2SP ``tlog-checkpoint``) signed as Ed25519 ``signed-note``s;
- ``entries``: the bytes a ledger entry's hash and Merkle leaf cover;
- ``claims``: which field of a certificate must equal which field of the entry it cites;
- ``cli``: the ``forewarn-verify`` command.
"""
