"""tap-exchange: Exchange Online mail through Microsoft Graph."""
