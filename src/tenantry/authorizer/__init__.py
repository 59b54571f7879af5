"""The authorizer: "may this token do X in organisation Y (and team Z)?", with the reason."""
