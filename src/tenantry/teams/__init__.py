"""Teams of an organisation, their members and team roles."""
