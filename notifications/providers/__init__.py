"""Channel adapters, one small Protocol per channel (STYLE.md): given plain dataclasses, never
ORM rows; vendor SDKs are imported only in these modules."""
