"""Invitations: invite an email address into an organisation, and accept by its link."""
