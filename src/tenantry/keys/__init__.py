"""The signing-key ring and its public face (JWKS, discovery)."""
