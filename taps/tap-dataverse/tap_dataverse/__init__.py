"""Singer tap for Microsoft Dataverse."""
