"""Custom roles of an organisation and their assignment to members."""
