"""Users who sign in with a trusted external issuer (a Cognito user pool): the issuers' tokens,
and the links from an issuer's subject to a tenantry user."""
