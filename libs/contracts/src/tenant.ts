export const TENANT_ID = /^[a-z0-9][a-z0-9-]{1,62}$/;
