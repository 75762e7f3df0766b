"""Security kernel: accounts, sessions, roles and permissions, audit trail, encryption, web hardening."""
