"""Public key infrastructure: CAs, agency signing certificates, CRL, OCSP and a time-stamping authority."""
